"""The collector run: native records in, queue messages out, nothing skipped.

For each unit a source yields (a report, a page, a batch of events): map every record
with the ASFF core, let change tracking decide what is worth sending, pack the findings
into full queue messages, enqueue them with SendMessageBatch, save the tracking state, and
only then commit the unit's cursor. A crash or a timeout therefore re-reads the unit on
the next run, and change tracking turns what was already sent into a harmless re-send at
worst. The run stops before the Lambda deadline (minus a safety margin).

A record that cannot be mapped or validated never stops the run: it is counted, logged
with its position and reason, and written to the error report, a JSON object under
`<errors_prefix><source>/YYYY/MM/DD/` in the stack's reports bucket. The report is written
before the cursor moves past the record, so every skipped record can be found there.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay import asff, aws, http, message, tracking
from hubrelay.settings import MAX_FINDING_BYTES, Settings
from hubrelay.sources import Context, Finding, Record, Source, SourceError, Unit
from hubrelay.tracking import Plan, Policy, Store, Tracked

SQS_BATCH_ENTRIES = 10
MAX_ERROR_RECORD_CHARS = 8_192


class CollectorError(RuntimeError):
    """The run cannot go on (source unreachable, queue refusing messages)."""


@dataclass
class Outcome:
    units: int = 0
    records: int = 0
    findings: int = 0
    enqueued: int = 0  # findings put on the queue (one per Region)
    messages: int = 0
    calls: int = 0
    malformed: int = 0
    duplicates: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    finished: bool = False  # the source had nothing more to read
    stopped_early: bool = False  # the deadline came first
    error: str = ""
    error_reports: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "records": self.records,
            "findings": self.findings,
            "enqueued": self.enqueued,
            "messages": self.messages,
            "calls": self.calls,
            "malformed": self.malformed,
            "duplicates": self.duplicates,
            "actions": dict(sorted(self.actions.items())),
            "finished": self.finished,
            "stoppedEarly": self.stopped_early,
            "error": self.error,
            "errorReports": list(self.error_reports),
        }


@dataclass
class Collector:
    """One run of one source. AWS clients are passed in, so tests drive it against moto."""

    source: Source
    ctx: Context
    store: Store
    sqs: Any
    queue_url: str
    policy: Policy = field(default_factory=Policy)
    s3: Any = None
    errors_bucket: str = ""
    errors_prefix: str = "errors/"
    max_message_bytes: int = 256 * 1024
    max_finding_bytes: int = MAX_FINDING_BYTES
    remaining_ms: Callable[[], int] = lambda: 900_000
    deadline_margin_ms: int = 10_000
    log: Callable[..., None] = lambda *args, **kwargs: None
    sleep: Callable[[float], None] = lambda seconds: time.sleep(seconds)
    chunk_size: int = 500
    renewal_limit: int = 500
    outcome: Outcome = field(default_factory=Outcome)
    _errors: list[dict[str, Any]] = field(default_factory=list)

    def run(self) -> Outcome:
        try:
            cursor = self.store.cursor(self.source.name)
            for unit in self.source.collect(cursor):
                if not (self._time_left() and self._process(unit)):
                    self.outcome.stopped_early = True
                    break
                self._flush_errors()
                self.store.commit(self.source.name, unit.cursor)
            else:
                self.outcome.finished = True
            if self.outcome.finished and self._time_left():
                self._renew_due()
            self._flush_errors()
        except (CollectorError, SourceError, ClientError, BotoCoreError) as exc:
            self.outcome.error = f"{type(exc).__name__}: {exc}"
            self.log("collector run failed", error=self.outcome.error)
            self._flush_errors(best_effort=True)
        return self.outcome

    # --- one unit ----------------------------------------------------------------------

    def _process(self, unit: Unit) -> bool:
        """Map, track and enqueue a unit; False when the deadline stopped it."""
        self.outcome.units += 1
        for position, reason in unit.errors:
            self._malformed(position, reason, None)
        by_scope: dict[str, dict[str, tuple[Finding, Record]]] = {}
        incomplete: set[str] = set()
        for record in unit.records:
            self.outcome.records += 1
            try:
                findings = self.source.map(record, self.ctx)
            except Exception as exc:  # any bad record is reported, never fatal
                self._malformed(record.position, f"{type(exc).__name__}: {exc}", record.native)
                incomplete.add(record.scope)
                continue
            scoped = by_scope.setdefault(record.scope, {})
            for finding in findings:
                if finding["Id"] in scoped:
                    self.outcome.duplicates += 1
                    continue
                scoped[finding["Id"]] = (finding, record)
        for scope, items in by_scope.items():
            complete = scope in unit.complete_scopes and scope not in incomplete
            if not self._process_scope(scope, items, complete):
                return False
        # A complete scan that reported nothing left in a scope still resolves its findings.
        for scope in unit.complete_scopes - set(by_scope) - incomplete:
            if not self._process_scope(scope, {}, complete=True):
                return False
        return True

    def _process_scope(
        self, scope: str, items: dict[str, tuple[Finding, Record]], complete: bool
    ) -> bool:
        known = self.store.load_scope(scope) if complete else None
        entries = list(items.values())
        for start in range(0, len(entries), self.chunk_size):
            if not self._time_left():
                return False
            chunk = entries[start : start + self.chunk_size]
            tracked = (
                known if known is not None else self.store.load(scope, [f["Id"] for f, _ in chunk])
            )
            plans = []
            for finding, record in chunk:
                self.outcome.findings += 1
                planned = tracking.plan(
                    finding, scope, tracked.get(finding["Id"]), self.ctx, self.policy
                )
                problems = self._problems(planned.sends)
                if problems:
                    self._malformed(record.position, problems, record.native)
                    complete = False
                    continue
                plans.append(planned)
            self._deliver(plans)
        if complete and known is not None:
            absent = [t for key, t in known.items() if key not in items and t.state == "ACTIVE"]
            for start in range(0, len(absent), self.chunk_size):
                if not self._time_left():
                    return False
                self._deliver(
                    [tracking.archive(t, self.ctx) for t in absent[start : start + self.chunk_size]]
                )
        return True

    def _renew_due(self) -> None:
        """Renew active findings the source has not re-reported, before the 90-day age-off."""
        before = self.ctx.now.timestamp() - self.policy.renewal_days * 86_400
        due = self.store.due(before, self.renewal_limit)
        by_scope: dict[str, list[str]] = {}
        for scope, key in due:
            by_scope.setdefault(scope, []).append(key)
        for scope, keys in by_scope.items():
            if not self._time_left():
                return
            plans: list[Plan] = []
            for state in self.store.load(scope, keys).values():
                if state.body is not None and state.state == "ACTIVE":
                    body = {**state.body, "Id": state.key}
                    plans.append(tracking.plan(body, scope, state, self.ctx, self.policy))
            self._deliver(plans)

    def _deliver(self, plans: Iterable[Plan]) -> None:
        """Enqueue every send, then remember the new states (never the other way round)."""
        plans = list(plans)
        sends = [finding for p in plans for finding in p.sends]
        self._enqueue(sends)
        states: list[Tracked] = [p.state for p in plans if p.state is not None]
        self.store.save(states)
        self.outcome.actions.update(p.action for p in plans)

    def _problems(self, sends: list[Finding]) -> str:
        reasons = []
        for finding in sends:
            violations = asff.validate_finding(finding, max_finding_bytes=self.max_finding_bytes)
            reasons += [str(v) for v in violations]
            if violations:
                break
        return "; ".join(reasons)

    # --- the queue -----------------------------------------------------------------------

    def _enqueue(self, findings: list[Finding]) -> None:
        if not findings:
            return
        bodies = list(message.pack_messages(findings, self.max_message_bytes))
        for batch in _batches(bodies, self.max_message_bytes):
            self._send_batch(batch)
        self.outcome.enqueued += len(findings)
        self.outcome.messages += len(bodies)

    def _send_batch(self, bodies: list[str]) -> None:
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)]
        for attempt in range(5):
            self.outcome.calls += 1
            response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed = {f["Id"]: f for f in response.get("Failed", [])}
            if not failed:
                return
            if any(f.get("SenderFault") for f in failed.values()):
                raise CollectorError(f"SQS refused messages: {list(failed.values())[:3]}")
            entries = [e for e in entries if e["Id"] in failed]
            self.sleep(min(0.1 * 2**attempt, 2.0))
        raise CollectorError(f"SQS kept failing {len(entries)} messages after 5 attempts")

    # --- errors and time -------------------------------------------------------------------

    def _malformed(self, position: str, reason: str, native: Any) -> None:
        self.outcome.malformed += 1
        self.log("malformed record skipped", position=position, reason=reason[:2000])
        text = json.dumps(native, default=str) if native is not None else None
        if text is not None and len(text) > MAX_ERROR_RECORD_CHARS:
            text = text[:MAX_ERROR_RECORD_CHARS] + "...(cut)"
        self._errors.append({"position": position, "reason": reason, "record": text})

    def _flush_errors(self, best_effort: bool = False) -> None:
        if not self._errors:
            return
        if not (self.s3 and self.errors_bucket):
            self._errors.clear()  # logged already; nowhere else to keep them
            return
        name = f"{self.ctx.now:%Y/%m/%d/%H%M%S}-{uuid.uuid4().hex[:12]}.json"
        key = f"{self.errors_prefix}{self.source.name}/{name}"
        document = {"source": self.source.name, "errors": self._errors}
        try:
            self.s3.put_object(
                Bucket=self.errors_bucket,
                Key=key,
                Body=json.dumps(document, indent=1).encode(),
                ContentType="application/json",
            )
        except (ClientError, BotoCoreError):
            if not best_effort:
                raise
            return
        self.outcome.error_reports.append(f"s3://{self.errors_bucket}/{key}")
        self._errors = []

    def _time_left(self) -> bool:
        return self.remaining_ms() > self.deadline_margin_ms


def _batches(bodies: list[str], max_bytes: int) -> Iterable[list[str]]:
    """SendMessageBatch calls: at most 10 entries and, like one message, at most max_bytes."""
    batch: list[str] = []
    size = 0
    for body in bodies:
        cost = len(body.encode())
        if batch and (len(batch) == SQS_BATCH_ENTRIES or size + cost > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(body)
        size += cost
    if batch:
        yield batch


# --- wiring from settings (the Lambda handler's one call) ------------------------------


def build(
    settings: Settings,
    account_id: str,
    remaining_ms: Callable[[], int],
    log: Callable[..., None],
) -> Collector:
    """The collector of the configured source, with the stack's queue, table and bucket."""
    return Collector(
        source=build_source(settings, account_id, remaining_ms),
        ctx=Context(account_id, settings.region_list(), settings.product_arn),
        store=Store(aws.client("dynamodb"), settings.tracking_table),
        sqs=aws.client("sqs"),
        queue_url=settings.findings_queue_url,
        policy=Policy(
            renewal_mode=settings.renewal_mode,
            renewal_days=settings.renewal_days,
            severity_floor=settings.severity_floor,
            cvss_floor=settings.cvss_floor,
        ),
        s3=aws.client("s3"),
        errors_bucket=settings.reports_bucket,
        errors_prefix=settings.errors_prefix,
        max_message_bytes=settings.max_message_bytes,
        max_finding_bytes=settings.max_finding_bytes,
        remaining_ms=remaining_ms,
        deadline_margin_ms=settings.deadline_margin_ms,
        log=log,
    )


def build_source(settings: Settings, account_id: str, remaining_ms: Callable[[], int]) -> Source:
    # Imported here: each source pulls in only what it needs at cold start.
    if settings.source == "scanner_reports":
        from hubrelay.sources.scanner_reports import ScannerReportsSource

        return ScannerReportsSource(
            aws.client("s3"),
            settings.reports_bucket,
            settings.reports_prefix,
            skip_prefix=settings.errors_prefix,
            max_bytes=settings.max_report_bytes,
        )
    if settings.source == "vendor_api":
        from aws_lambda_powertools.utilities import parameters

        from hubrelay.sources.vendor_api import VendorApiSource, VendorMapping, auth_headers

        # Cached across warm invocations (secret_max_age_s, 5 minutes by default, as the
        # responder's secrets); never put in env vars or logs.
        secret = parameters.get_secret(
            settings.vendor_secret_arn, max_age=settings.secret_max_age_s
        )
        client = http.Client(
            timeout_s=settings.http_timeout_s,
            max_attempts=5,
            max_backoff_s=settings.max_retry_backoff_s,
            sleep=_deadline_sleep(remaining_ms, settings.deadline_margin_ms),
        )
        return VendorApiSource(
            settings.vendor_api_url,
            VendorMapping.load(settings.vendor_mapping),
            client,
            auth_headers(secret),
        )
    if settings.source == "health":
        from hubrelay.sources.health import GLOBAL_REGIONS, HealthSource

        # The Health API is served from one Region per partition.
        endpoint = GLOBAL_REGIONS.get(asff.partition_for(settings.region), "us-east-1")
        return HealthSource(aws.client("health", endpoint), account_id)
    raise ValueError(f"HUBRELAY_SOURCE {settings.source!r} is not a source")


def _deadline_sleep(remaining_ms: Callable[[], int], margin_ms: int) -> Callable[[float], None]:
    """A sleep for retries that refuses to wait past the invocation's deadline."""

    def wait(seconds: float) -> None:
        if remaining_ms() - margin_ms < seconds * 1000:
            raise SourceError(f"no time left to wait {seconds:.1f} s before retrying")
        time.sleep(seconds)

    return wait
