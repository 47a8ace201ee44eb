"""Customer cost: hubrelay's own AWS bill per million findings, next to Security Hub's.

Every price is in PRICES, the one table: us-east-1 list prices as AWS publishes them, with
the page and the date they were taken. They were NOT fetched by this bench (it runs
offline): check the pages before relying on a figure, prices change. Free tiers are left
out (they would only lower hubrelay's figure).

What hubrelay pays per million findings imported (quantities measured in this run):
- Lambda: GB-seconds = measured duration per finding x 1e6 x configured memory (importer
  512 MB, collector 1,024 MB), plus requests. The importer's duration is its in-process
  time per finding at the rate limit (CPU + backoff sleeps + moto's answers standing in for
  Security Hub's latency); Security Hub's real latency is not known here, so the bill of
  each extra 100 ms per call is given beside it. The collector's is its CPU time per
  finding on the real tracking.Store over moto (bench.billed), without what moto spends
  answering (DynamoDB's and S3's work) or the bench's billing reads; reading S3, DynamoDB
  and SQS latencies not included.
- SQS: every 64 KB chunk of a request is a billed request: SendMessageBatch by the
  collector (measured), ReceiveMessage by the event source mapping (the same bytes), and
  one DeleteMessageBatch per 10 messages. The mapping's empty long polls are a fixed
  monthly cost, not per finding.
- DynamoDB (on demand): the tracking items written (the packed buckets of
  hubrelay.packed, as tracking.Store writes them), each sized by DynamoDB's rule
  (tracking.item_size), 1 write unit per started KB of the larger of the item before and
  after the write, a failed conditional write included
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html);
  the renewal index's writes (KEYS_ONLY: a new entry 1 unit, a changed key 2); the items
  read. Storage and point-in-time recovery for the tracked life of a finding sent
  once (tracking.EXPIRY_DAYS, after which TTL deletes the row), with DynamoDB's 100 bytes of
  overhead per item in the table and in the index: per million findings imported, as if
  each were sent once and never again (a finding reported on is renewed every 80 days,
  each renewal another ingestion event, so this is the upper bound per event).
- CloudWatch Logs: the importer's log bytes per invocation (LOG_BYTES_PER_INVOCATION: the
  platform's START, END and REPORT lines, the summary line and the metrics' EMF document),
  at most one invocation per message; the collector's are per run, a fixed monthly cost.
- S3: one GetObject per scanner report (the bench's report holds `findings` findings); the
  tracked findings' last bodies (hubrelay.bodies): one PutObject per save, gzip-compressed
  bytes stored for the 90 days of errors/'s expiry.
- KMS: nothing per finding. With the defaults SQS uses SSE-SQS (no KMS calls) and DynamoDB
  the AWS managed key, whose table key DynamoDB caches and refreshes with KMS about every
  5 minutes of use (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html);
  with KmsKeyArn, SQS reuses a data key for KmsDataKeyReusePeriodSeconds (300 s default,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html):
  both a few calls per 5 minutes, in the fixed monthly costs.
- EventBridge: Security Hub's "Findings - Imported" events and S3's Object Created events go
  to the default bus, where AWS service events are free; the collector's schedule is
  EventBridge Scheduler, a fixed 8,640 invocations a month at rate(5 minutes).
X-Ray is not counted (tracing is off by default).
"""

from __future__ import annotations

import math
from typing import Any

from hubrelay.tracking import EXPIRY_DAYS

PRICE_DATE = "2026-11-22"
PRICES: dict[str, dict[str, Any]] = {
    "lambda_gb_second": {
        "usd": 0.0000166667,
        "unit": "GB-second (x86_64, first tier)",
        "source": "https://aws.amazon.com/lambda/pricing/",
    },
    "lambda_request": {
        "usd": 0.20 / 1e6,
        "unit": "request",
        "source": "https://aws.amazon.com/lambda/pricing/",
    },
    "sqs_request": {
        "usd": 0.40 / 1e6,
        "unit": "request (standard queue; each 64 KB chunk of a payload is one request)",
        "source": "https://aws.amazon.com/sqs/pricing/",
    },
    "dynamodb_write_unit": {
        "usd": 0.625 / 1e6,
        "unit": "write request unit (on-demand)",
        "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    },
    "dynamodb_read_unit": {
        "usd": 0.125 / 1e6,
        "unit": "read request unit (on-demand; strongly consistent, 4 KB)",
        "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    },
    "dynamodb_storage_gb_month": {
        "usd": 0.25,
        "unit": "GB-month of table and index storage (Standard table class)",
        "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    },
    "dynamodb_pitr_gb_month": {
        "usd": 0.20,
        "unit": "GB-month of point-in-time recovery (continuous backups; the table's size)",
        "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    },
    "cloudwatch_logs_ingest_gb": {
        "usd": 0.50,
        "unit": "GB of log data ingested (Standard log class)",
        "source": "https://aws.amazon.com/cloudwatch/pricing/",
    },
    "s3_get_request": {
        "usd": 0.0004 / 1000,
        "unit": "GET request (S3 Standard)",
        "source": "https://aws.amazon.com/s3/pricing/",
    },
    "s3_put_request": {
        "usd": 0.005 / 1000,
        "unit": "PUT request (S3 Standard)",
        "source": "https://aws.amazon.com/s3/pricing/",
    },
    "s3_storage_gb_month": {
        "usd": 0.023,
        "unit": "GB-month (S3 Standard, first 50 TB)",
        "source": "https://aws.amazon.com/s3/pricing/",
    },
    "kms_request": {
        "usd": 0.03 / 10_000,
        "unit": "KMS API request",
        "source": "https://aws.amazon.com/kms/pricing/",
    },
    "scheduler_invocation": {
        "usd": 1.00 / 1e6,
        "unit": "EventBridge Scheduler invocation",
        "source": "https://aws.amazon.com/eventbridge/pricing/",
    },
    "secretsmanager_api_call": {
        "usd": 0.05 / 10_000,
        "unit": "Secrets Manager API call (GetSecretValue)",
        "source": "https://aws.amazon.com/secrets-manager/pricing/",
    },
    "securityhub_finding_ingestion": {
        "usd": 0.00003,
        "unit": "finding ingestion event (Security Hub CSPM; first 10,000 per account and "
        "Region per month free): $0.30 per 10,000",
        "source": "https://aws.amazon.com/security-hub/pricing/",
    },
}
# Added 2026-12-03 from the same pages as published list prices, not fetched (the bench
# runs offline): check them first. On 2026-12-07 each of them, and the DynamoDB request
# units, matched the us-east-1 figures quoted by third-party cost notes; the stored copies
# of AWS's pricing pages hold no figures (their tables are rendered by script), so none is
# confirmed on an AWS page yet (AWS's Price List files are:
# https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-ppslong.html).
ADDED = frozenset(
    {"dynamodb_storage_gb_month", "dynamodb_pitr_gb_month", "cloudwatch_logs_ingest_gb"}
    | {"s3_get_request", "s3_put_request", "s3_storage_gb_month", "kms_request"}
)
for _key, _price in PRICES.items():
    _price["as_of"] = "2026-12-03 (not fetched)" if _key in ADDED else PRICE_DATE

MILLION = 1_000_000
RUNS_PER_MONTH = 30 * 24 * 12  # rate(5 minutes)
IMPORTER_GB = 512 / 1024
COLLECTOR_GB = 1024 / 1024
EXTRA_LATENCY_S = 0.1
GB = 1024**3
BODY_DAYS = 90  # the expiry of errors/ in template.yaml, where the bodies are (hubrelay.bodies)
TRACKED_MONTHS = EXPIRY_DAYS / 30
# Bytes the importer logs per invocation: Lambda's START, END and REPORT lines (about 350),
# Powertools' summary line with the Lambda context (about 700) and the EMF document of
# its 8 metrics (about 900); LogLevel INFO, the default.
LOG_BYTES_PER_INVOCATION = 2_000


def _usd(key: str, quantity: float) -> float:
    return float(PRICES[key]["usd"]) * quantity


def per_million(importer: dict[str, float], collector: dict[str, Any]) -> dict[str, Any]:
    """`importer`: seconds_per_finding, calls_per_finding; `collector`: the first run of
    bench.collector.unchanged_resend and the findings it sent."""
    first, n = collector["runs"][0], collector["findings"]
    per = MILLION / n
    messages = first["sqs_messages"] * per
    lines = {**_compute_lines(importer, first, n, messages), **_dynamodb_lines(first, per)}
    lines["CloudWatch Logs (importer, <= 1 invocation a message)"] = _usd(
        "cloudwatch_logs_ingest_gb", messages * LOG_BYTES_PER_INVOCATION / GB
    )
    lines["S3 GetObject of the reports"] = _usd("s3_get_request", per)
    lines["S3 tracked bodies: PutObject"] = _usd(
        "s3_put_request", first.get("s3_body_puts", 0) * per
    )
    lines[f"S3 tracked bodies: storage, {BODY_DAYS} days"] = _usd(
        "s3_storage_gb_month", first.get("s3_body_bytes", 0) * per / GB * BODY_DAYS / 30
    )
    lines["KMS (a few calls per 5 minutes, fixed)"] = 0.0
    lines["EventBridge (AWS service events on the default bus)"] = 0.0
    total = sum(lines.values())
    ingestion = _usd("securityhub_finding_ingestion", MILLION)
    extra = _usd(
        "lambda_gb_second", importer["calls_per_finding"] * MILLION * EXTRA_LATENCY_S * IMPORTER_GB
    )
    return {
        "lines_usd": {k: round(v, 4) for k, v in lines.items()},
        "hubrelay_usd": round(total, 4),
        "securityhub_ingestion_usd": round(ingestion, 2),
        "hubrelay_per_ingestion": round(total / ingestion, 4),
        "per_100ms_securityhub_latency_usd": round(extra, 4),
        "fixed_monthly_usd": {
            "collector schedule (EventBridge Scheduler)": round(
                _usd("scheduler_invocation", RUNS_PER_MONTH), 4
            ),
        },
        "inputs": {
            "importer_seconds_per_finding": importer["seconds_per_finding"],
            "importer_calls_per_finding": importer["calls_per_finding"],
            "collector_cpu_s_per_finding": round(first["cpu_s"] / n, 6),
            "sqs_billed_requests_per_finding": round(first["sqs_billed_requests"] / n, 4),
            "dynamodb_write_units_per_finding": round(first["dynamodb_write_units"] / n, 3),
            "dynamodb_index_write_units_per_finding": round(
                first.get("dynamodb_index_write_units", 0) / n, 3
            ),
            "dynamodb_table_bytes_per_finding": round(first.get("dynamodb_table_bytes", 0) / n),
            "dynamodb_index_bytes_per_finding": round(first.get("dynamodb_index_bytes", 0) / n),
        },
    }


def _compute_lines(
    importer: dict[str, float], first: dict[str, Any], n: int, messages: float
) -> dict[str, float]:
    per = MILLION / n
    return {
        "importer Lambda GB-s": _usd(
            "lambda_gb_second", importer["seconds_per_finding"] * MILLION * IMPORTER_GB
        ),
        "importer Lambda requests (at most one per message)": _usd("lambda_request", messages),
        "collector Lambda GB-s": _usd(
            "lambda_gb_second", first["cpu_s"] / n * MILLION * COLLECTOR_GB
        ),
        "SQS send + receive (64 KB chunks) + delete": _usd(
            "sqs_request", 2 * first["sqs_billed_requests"] * per + math.ceil(messages / 10)
        ),
    }


def _dynamodb_lines(first: dict[str, Any], per: float) -> dict[str, float]:
    """Writes, reads, and storage with point-in-time recovery for the tracked life."""
    table_gb = first.get("dynamodb_table_bytes", 0) * per / GB
    index_gb = first.get("dynamodb_index_bytes", 0) * per / GB
    return {
        "DynamoDB tracking writes (table)": _usd(
            "dynamodb_write_unit", first["dynamodb_write_units"] * per
        ),
        "DynamoDB renewal index writes": _usd(
            "dynamodb_write_unit", first.get("dynamodb_index_write_units", 0) * per
        ),
        "DynamoDB reads": _usd("dynamodb_read_unit", first["dynamodb_read_units"] * per),
        f"DynamoDB storage, table + index, {EXPIRY_DAYS} days": _usd(
            "dynamodb_storage_gb_month", (table_gb + index_gb) * TRACKED_MONTHS
        ),
        f"DynamoDB point-in-time recovery, {EXPIRY_DAYS} days": _usd(
            "dynamodb_pitr_gb_month", table_gb * TRACKED_MONTHS
        ),
    }


def unchanged_month(collector: dict[str, Any], renewal_days: int = 80) -> dict[str, Any]:
    """A month of 5-minute runs over a source that re-reports the same findings."""
    n, second = collector["findings"], collector["runs"][1]
    naive_events = n * RUNS_PER_MONTH
    # Change tracking sends nothing for an unchanged finding until its renewal (every
    # `renewal_days`, before Security Hub's 90-day age-off).
    hubrelay_events = second["imports"] * RUNS_PER_MONTH + n * 30 / renewal_days
    own = _usd("lambda_gb_second", second["cpu_s"] * RUNS_PER_MONTH * COLLECTOR_GB) + _usd(
        "dynamodb_read_unit", second["dynamodb_read_units"] * RUNS_PER_MONTH
    )
    return {
        "findings": n,
        "runs_per_month": RUNS_PER_MONTH,
        "naive_ingestion_events": naive_events,
        "naive_ingestion_usd": round(_usd("securityhub_finding_ingestion", naive_events), 2),
        "hubrelay_ingestion_events": round(hubrelay_events),
        "hubrelay_ingestion_usd": round(_usd("securityhub_finding_ingestion", hubrelay_events), 2),
        "hubrelay_own_usd": round(own, 2),
    }


# The vendor API's default schedule (template.yaml: rate(1 minute) for Source vendor_api).
VENDOR_RUNS_PER_MONTH = 30 * 24 * 60
SECRET_READS_PER_MONTH = 30 * 24 * 12  # the token, cached 5 minutes (secret_max_age_s)


def vendor_schedule(idle_run_s: float, runs: int = VENDOR_RUNS_PER_MONTH) -> dict[str, Any]:
    """What polling the vendor API every minute costs a month when it has nothing new
    (findings sent are in per_million), next to the 5-minute schedule: Scheduler
    invocations, Lambda requests and duration (`idle_run_s` per run at the collector's
    1,024 MB), and the token's reads from Secrets Manager (cached 5 minutes either way)."""

    def month(n: int) -> dict[str, float]:
        lines = {
            "EventBridge Scheduler": _usd("scheduler_invocation", n),
            "Lambda requests": _usd("lambda_request", n),
            "Lambda GB-s": _usd("lambda_gb_second", n * idle_run_s * COLLECTOR_GB),
            "Secrets Manager": _usd("secretsmanager_api_call", min(n, SECRET_READS_PER_MONTH)),
        }
        rounded = {k: round(v, 4) for k, v in lines.items()}
        return {**rounded, "total": round(sum(lines.values()), 4)}

    return {
        "idle_run_s": idle_run_s,
        "runs_per_month": runs,
        "usd_per_month": month(runs),
        "usd_per_month_at_5_minutes": month(RUNS_PER_MONTH),
    }
