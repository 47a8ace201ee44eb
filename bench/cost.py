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
  finding (reading S3, DynamoDB and SQS latencies not included).
- SQS: every 64 KB chunk of a request is a billed request: SendMessageBatch by the
  collector (measured), ReceiveMessage by the event source mapping (the same bytes), and
  one DeleteMessageBatch per 10 messages. The mapping's empty long polls are a fixed
  monthly cost, not per finding.
- DynamoDB (on demand): the tracking item written per finding sent (1 write unit per
  started KB of the item, measured), and the items read when the source re-reports.
- EventBridge: Security Hub's "Findings - Imported" events go to the default bus, where AWS
  service events are free; the collector's schedule is EventBridge Scheduler, a fixed
  8,640 invocations a month at rate(5 minutes). Nothing per finding on the import path.
CloudWatch Logs and metrics, S3 requests for scanner reports, KMS and X-Ray are not counted.
"""

from __future__ import annotations

import math
from typing import Any

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
for _price in PRICES.values():
    _price["as_of"] = PRICE_DATE

MILLION = 1_000_000
RUNS_PER_MONTH = 30 * 24 * 12  # rate(5 minutes)
IMPORTER_GB = 512 / 1024
COLLECTOR_GB = 1024 / 1024
EXTRA_LATENCY_S = 0.1


def _usd(key: str, quantity: float) -> float:
    return float(PRICES[key]["usd"]) * quantity


def per_million(importer: dict[str, float], collector: dict[str, Any]) -> dict[str, Any]:
    """`importer`: seconds_per_finding, calls_per_finding; `collector`: the first run of
    bench.collector.unchanged_resend and the findings it sent."""
    first, n = collector["runs"][0], collector["findings"]
    per = MILLION / n
    messages = first["sqs_messages"] * per
    lines = {
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
        "DynamoDB tracking writes": _usd(
            "dynamodb_write_unit", first["dynamodb_write_units"] * per
        ),
        "EventBridge (Imported events on the default bus)": 0.0,
    }
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
        },
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
