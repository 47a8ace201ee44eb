"""The collector run: native records in, queue messages out, nothing skipped.

For each unit a source yields (a report, a page, a batch of events): map every record
with the ASFF core, let change tracking decide what is worth sending, pack the findings
into full queue messages, enqueue them with SendMessageBatch, save the tracking state, and
only then commit the unit's cursor. A crash or a timeout therefore re-reads the unit on
the next run, and change tracking turns what was already sent into a harmless re-send at
worst. The run stops before the Lambda deadline (minus a safety margin).

A record that cannot be mapped or validated never stops the run: it is counted, logged
with its position and reason, and written to the error report (`hubrelay.error_report`)
before the cursor moves past the record.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay import asff, aws, message, sqs, tracking
from hubrelay.bodies import BodyStore
from hubrelay.delivery import Ref
from hubrelay.error_report import ErrorReport
from hubrelay.errors import TransientError
from hubrelay.observability import logger
from hubrelay.retry import Retry
from hubrelay.settings import DEFAULT_MAX_MESSAGE_BYTES, MAX_FINDING_BYTES, Settings
from hubrelay.sources import (
    UNCLASSED,
    Context,
    Finding,
    Record,
    Source,
    SourceError,
    Unit,
    scan_class,
)
from hubrelay.tracking import Plan, Policy, Store, Tracked
from hubrelay.triggers import HealthEvent, ReportCreated, Scheduled, Trigger

if TYPE_CHECKING:
    from hubrelay.sources.vendor_api import VendorMapping

Scoped = dict[str, dict[str, tuple[Finding, Record]]]  # scope -> finding Id -> (finding, record)


SCHEDULED = Scheduled()


class CollectorError(TransientError):
    """The run cannot go on (the queue refusing messages): the next run tries again."""


@dataclass
class CollectOutcome:
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
class FindingQueue:
    """The findings queue: findings packed into full messages, sent in batches."""

    client: Any
    url: str
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    retry: Retry = field(default_factory=lambda: Retry(max_attempts=5, base_s=0.1, cap_s=2.0))

    def enqueue(
        self,
        findings: list[Finding],
        outcome: CollectOutcome,
        refs: list[Ref | None] | None = None,
    ) -> None:
        """Enqueue `findings`; `refs` (aligned) names each one's tracking row in the
        message, for the importer's delivery feedback (hubrelay.delivery)."""
        if not findings:
            return
        bodies = list(message.pack_messages(findings, self.max_message_bytes, refs))
        report = sqs.send_entries(
            self.client,
            self.url,
            [{"MessageBody": body} for body in bodies],
            max_bytes=self.max_message_bytes,
            retry=self.retry,
        )
        outcome.calls += report.calls
        if report.refused:
            raise CollectorError(f"SQS refused messages: {[why for _, why in report.refused][:3]}")
        if report.failed:
            raise CollectorError(f"SQS kept failing {len(report.failed)} messages")
        outcome.enqueued += len(findings)
        outcome.messages += len(bodies)


@dataclass(frozen=True)
class Limits:
    max_finding_bytes: int = MAX_FINDING_BYTES
    chunk_size: int = 500  # findings tracked and enqueued at a time
    renewal_limit: int = 500  # findings renewed per run at most
    retry_limit: int = 500  # undelivered findings re-sent per run at most


@dataclass
class Collector:
    """One run of one source. AWS clients are passed in, so tests drive it against moto."""

    source: Source
    ctx: Context
    store: Store
    queue: FindingQueue
    errors: ErrorReport
    policy: Policy = field(default_factory=Policy)
    limits: Limits = field(default_factory=Limits)
    time_left: Callable[[], bool] = lambda: True
    # The sweeps after a finished run (renewals, redeliveries, placement) are the
    # schedule's; a run for one event only reads what the event names.
    sweeps: bool = True
    outcome: CollectOutcome = field(default_factory=CollectOutcome)

    def run(self) -> CollectOutcome:
        try:
            cursor = self.store.cursor(self.source.name)
            for unit in self.source.collect(cursor):
                if not (self.time_left() and self._process(unit)):
                    self.outcome.stopped_early = True
                    break
                self._flush_errors()
                self.store.commit(self.source.name, unit.cursor)
            else:
                self.outcome.finished = True
            if self.outcome.finished and self.sweeps:
                sweep(self)
            self.store.flush()
            self._flush_errors()
        except (TransientError, ClientError, BotoCoreError) as exc:
            # The source, the queue or the table failing now: the cursor has not moved past
            # anything unsent, so the next run starts where this one could not go on.
            self.outcome.error = f"{type(exc).__name__}: {exc}"
            logger.error("collector run failed", error=self.outcome.error)
            _flush_state(self.store)
            self._flush_errors(best_effort=True)
        return self.outcome

    def _process(self, unit: Unit) -> bool:
        """Map, track and enqueue a unit, `chunk_size` records at a time; then archive what
        its complete scopes no longer hold. False when the deadline stopped it: a unit
        that can resume (a report) has its place committed first (Unit.resume)."""
        self.outcome.units += 1
        if not unit.skip:  # a resumed unit's errors went in the run that began it
            for position, reason in unit.errors:
                self._malformed(position, reason, None)
        run = _UnitRun(unit)
        chunk: list[Record] = []
        for record in unit.records:
            if run.offset + len(chunk) < unit.skip:
                _replay(self, record, run)
                run.offset += 1
            else:
                chunk.append(record)
            if len(chunk) >= self.limits.chunk_size and not self._chunk(chunk, run):
                return False
            chunk = chunk if len(chunk) < self.limits.chunk_size else []
        if chunk and not self._chunk(chunk, run):
            return False
        return _archive_absent(self, run)

    def _chunk(self, chunk: list[Record], run: _UnitRun) -> bool:
        """Track and enqueue the findings of `chunk`; False (its place committed) when no
        time is left to start it."""
        if not self.time_left():
            self._pause(run)
            return False
        for scope, items in self._map(chunk, run).items():
            self._track(scope, items, run)
        run.offset += len(chunk)
        return True

    def _pause(self, run: _UnitRun) -> None:
        """Commit where the unit stopped, when it can resume there and got further."""
        unit = run.unit
        if unit.resume is None or run.offset <= unit.skip:
            return
        self._flush_errors()
        incomplete = {scope: sorted(c) for scope, c in run.incomplete.items() if c}
        self.store.commit(self.source.name, unit.resume(run.offset, incomplete))

    def _map(self, records: Iterable[Record], run: _UnitRun) -> Scoped:
        """Each record's findings by scope (first of an Id in the unit wins); the scanner
        classes of the records that could not be mapped go to `run.incomplete` (their
        scans are not complete)."""
        by_scope: Scoped = {}
        for record in records:
            self.outcome.records += 1
            try:
                findings = self.source.map(record, self.ctx)
            except Exception as exc:  # any bad record is reported, never fatal
                self._malformed(record.position, f"{type(exc).__name__}: {exc}", record.native)
                run.incomplete.setdefault(record.scope, set()).add(record.scan_class)
                continue
            scoped = by_scope.setdefault(record.scope, {})
            seen = run.seen.setdefault(record.scope, {})
            for finding in findings:
                if finding["Id"] in seen:
                    self.outcome.duplicates += 1
                    continue
                seen[finding["Id"]] = None
                scoped[finding["Id"]] = (finding, record)
        return by_scope

    def _track(self, scope: str, items: dict[str, tuple[Finding, Record]], run: _UnitRun) -> None:
        """Plan and deliver a chunk's findings of one scope; a finding validation refuses
        makes its class of the scope incomplete."""
        known = run.known_of(scope, self.store)
        tracked = known if known is not None else self.store.load(scope, list(items))
        _resolve_needed(self, tracked, [f for f, _ in items.values()])
        plans = []
        for finding, record in items.values():
            self.outcome.findings += 1
            planned = tracking.plan(
                finding, scope, tracked.get(finding["Id"]), self.ctx, self.policy
            )
            if problems := problems_of(planned.sends, self.limits.max_finding_bytes):
                self._malformed(record.position, problems, record.native)
                run.incomplete.setdefault(scope, set()).add(record.scan_class)
                continue
            plans.append(planned)
        self.deliver(plans)

    def deliver(self, plans: list[Plan]) -> None:
        """Enqueue every send, then remember the new states (never the other way round)."""
        findings: list[Finding] = []
        refs: list[Ref | None] = []
        for p in plans:
            ref = None if p.state is None else Ref(p.state.scope, p.state.key, p.action == "resent")
            findings += p.sends
            refs += [ref] * len(p.sends)
        self.queue.enqueue(findings, self.outcome, refs)
        states: list[Tracked] = [p.state for p in plans if p.state is not None]
        self.store.save(states)
        self.outcome.actions.update(p.action for p in plans)

    def _malformed(self, position: str, reason: str, native: Any) -> None:
        self.outcome.malformed += 1
        self.errors.add(position, reason, native)

    def _flush_errors(self, best_effort: bool = False) -> None:
        if written := self.errors.flush(self.ctx.now, best_effort):
            self.outcome.error_reports.append(written)


def _replay(c: Collector, record: Record, run: _UnitRun) -> None:
    """A record an earlier run sent: only its Ids, for the archive decision (a record
    that could not be mapped then is in `incomplete` already)."""
    try:
        findings = c.source.map(record, c.ctx)
    except Exception:  # reported by the run that sent the record
        return
    run.seen.setdefault(record.scope, {}).update(dict.fromkeys(str(f["Id"]) for f in findings))


def _archive_absent(c: Collector, run: _UnitRun) -> bool:
    """After the last record: archive the tracked findings absent from each complete
    scope whose scanner class the unit scanned completely. False (its place
    committed) when the deadline came first."""
    unit, size = run.unit, c.limits.chunk_size
    # A complete scan that reported nothing left in a scope still resolves its findings.
    for scope in [*run.seen, *sorted(unit.complete_scopes - set(run.seen))]:
        complete = _complete_classes(unit, scope, run.incomplete.get(scope, set()))
        if not complete:
            continue
        known = run.known_of(scope, c.store) or {}
        seen = run.seen.get(scope, {})
        absent = [
            t
            for key, t in known.items()
            if key not in seen and t.state == "ACTIVE" and _archived_by(complete, key)
        ]
        for start in range(0, len(absent), size):
            if not c.time_left():
                c._pause(run)
                return False
            batch = c.store.resolve(absent[start : start + size])
            c.deliver([tracking.archive(t, c.ctx) for t in batch])
    return True


def _resolve_needed(c: Collector, tracked: dict[str, Tracked], findings: list[Finding]) -> None:
    """Read from S3 the bodies `plan` will send for these findings (hubrelay.bodies)."""
    needed = [
        state
        for finding in findings
        if (state := tracked.get(finding["Id"])) is not None
        and tracking.needs_body(state, finding, c.ctx, c.policy)
    ]
    for state in c.store.resolve(needed):
        tracked[state.key] = state


def _flush_state(store: Store) -> None:
    """After a failure: the state of what was enqueued before it, if the table takes it
    (else the next run sends those findings again, harmlessly)."""
    try:
        store.flush()
    except (TransientError, ClientError, BotoCoreError) as exc:
        logger.error("tracking state not saved", error=f"{type(exc).__name__}: {exc}")


@dataclass
class _UnitRun:
    """What a run knows of the unit it is in: the records done (`offset`, those before
    `unit.skip` included), the finding Ids seen per scope, the scanner classes per scope
    that cannot be complete, and the tracked findings of each complete scope."""

    unit: Unit
    offset: int = 0
    # The Ids seen of each scope as a dict's keys, not a set: a set of strings is never
    # smaller than a dict of the same keys in CPython, whose set table grows fourfold below
    # 50,000 entries (39,000 Ids: 2.0 MB as a set, 0.9 MB as a dict).
    seen: dict[str, dict[str, None]] = field(default_factory=dict)
    incomplete: dict[str, set[str]] = field(default_factory=dict)
    known: dict[str, dict[str, Tracked] | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.incomplete = {scope: set(c) for scope, c in self.unit.incomplete.items()}

    def known_of(self, scope: str, store: Store) -> dict[str, Tracked] | None:
        """Every tracked finding of `scope` when the unit scans it completely (read once:
        the archive decision needs them all), else None."""
        if scope not in self.known:
            complete = _complete_classes(self.unit, scope, self.incomplete.get(scope, set()))
            self.known[scope] = store.load_scope(scope) if complete else None
        return self.known[scope]


# --- completeness per scanner class -----------------------------------------------------


def _complete_classes(unit: Unit, scope: str, failed: set[str]) -> frozenset[str]:
    """The scanner classes `scope` is completely scanned for in `unit`, less those of its
    records that could not be mapped; empty when the unit archives nothing there."""
    if scope not in unit.complete_scopes:
        return frozenset()
    return _without(unit.complete_classes.get(scope, frozenset({UNCLASSED})), failed)


def _without(complete: frozenset[str], failed: set[str]) -> frozenset[str]:
    # An unclassed record may be of any class: with it gone, no class of the scope is complete.
    return frozenset() if UNCLASSED in failed else complete - failed


def _archived_by(complete: frozenset[str], key: str) -> bool:
    """Whether a complete scan of these classes archives the tracked finding `key` when
    it is absent: findings of its classes do, and so do unclassed ones (SARIF's, or a
    Trivy or Grype Id of an earlier release, which no report gives any more:
    docs/operations.md, Upgrading)."""
    found = scan_class(key)
    return found == UNCLASSED or found in complete or UNCLASSED in complete


# --- the sweeps after a finished run: renewals and what could not be delivered ----------


def sweep(c: Collector) -> None:
    """The sweeps after a finished run, while time is left: the rows of an earlier release
    moved first (the placement sweep reads only the packed state), then renewals, then
    re-sends of what was not delivered, then placement after a settings change."""
    steps: list[Callable[[Collector], None]] = [
        lambda c: tracking.migrate(c.store, c.time_left),
        renew_due,
        retry_undelivered,
        reconcile_placement,
    ]
    for step in steps:
        if not c.time_left():
            return
        step(c)


def renew_due(c: Collector) -> None:
    """Renew active findings the source has not re-reported, before the 90-day age-off."""
    before = c.ctx.epoch() - c.policy.renewal_days * 86_400

    def renew(scope: str, state: Tracked) -> Plan | None:
        if state.body is None or state.state != "ACTIVE":
            return None
        body = {**state.body, "Id": state.key}
        return tracking.plan(body, scope, state, c.ctx, c.policy)

    _sweep(c, c.store.due(before, c.limits.renewal_limit), renew)


def retry_undelivered(c: Collector) -> None:
    """Send again, from the stored body, what the importer could not deliver for a cause
    outside the finding, once its (account, Region) backoff has passed."""
    due = c.store.undelivered(c.ctx.epoch(), c.limits.retry_limit)
    _sweep(c, due, lambda scope, state: tracking.resend(state, c.ctx))


PLACEMENT = "placement"  # the cursor row of the placement sweep
# Items per Scan page of the sweep: a page's findings are decoded at once (at 200 items,
# 2,700 findings: 2.8 MB of a first run's peak); a Scan is billed by the size of the items
# it reads, rounded up to 4 KB per request ("Capacity unit consumption for read
# operations",
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html),
# so a page of 100 items of up to 1 KB costs its round trip and at most 4% more.
PLACEMENT_PAGE = 100


def reconcile_placement(c: Collector) -> None:
    """After a change of ProductArn or Regions, move every active finding where the settings
    now put it, whether or not a report mentions it again: archived under the old product
    or in a Region it leaves, sent under the new product or to a Region it arrives in
    (`tracking.plan`, from the stored body). The settings the findings were last placed by
    are a cursor row; a sweep that runs out of time goes on from its page in the next run."""
    wanted = {"product": c.ctx.product_arn, "regions": list(c.ctx.regions)}
    if c.store.legacy():
        return  # rows of an earlier release left: `tracking.migrate` first, next run
    marker = c.store.cursor(PLACEMENT)
    if marker.get("placed") == wanted:
        return
    start = marker.get("start") if marker.get("moving") == wanted else None
    sent_now = c.ctx.epoch()
    while c.time_left():
        page, start = c.store.active_page(start, PLACEMENT_PAGE)
        # What this run sent was placed by these settings: its body is not read back (an
        # S3 GET and a parse per finding, on a new stack's first run every finding).
        found = c.store.resolve([s for s in page if s.last_sent < sent_now])
        plans = [_placed(c, state) for state in found if state.body is not None]
        c.deliver([p for p in plans if p.state is not None])
        if start is None:
            c.store.commit(PLACEMENT, {"placed": wanted})
            return
        c.store.commit(PLACEMENT, {**marker, "moving": wanted, "start": start})


def _placed(c: Collector, state: Tracked) -> Plan:
    assert state.body is not None
    return tracking.plan({**state.body, "Id": state.key}, state.scope, state, c.ctx, c.policy)


def _sweep(
    c: Collector, keys: Iterable[tuple[str, str]], plan: Callable[[str, Tracked], Plan | None]
) -> None:
    """Plan and deliver the tracked findings at (scope, key), a scope at a time."""
    by_scope: dict[str, list[str]] = {}
    for scope, key in keys:
        by_scope.setdefault(scope, []).append(key)
    for scope, scope_keys in by_scope.items():
        if not c.time_left():
            return
        states = c.store.resolve(c.store.load(scope, scope_keys).values())
        plans = [plan(scope, state) for state in states]
        c.deliver([p for p in plans if p is not None])


def problems_of(sends: list[Finding], max_finding_bytes: int) -> str:
    """Why the first send that validation refuses is refused, or ""."""
    for finding in sends:
        violations = asff.validate_finding(finding, max_finding_bytes=max_finding_bytes)
        if violations:
            return "; ".join(str(v) for v in violations)
    return ""


# --- wiring from settings (the Lambda handler's calls) --------------------------------


@dataclass
class Services:
    """The clients a collector run uses; the source's own come from `client`."""

    dynamodb: Any
    sqs: Any
    s3: Any
    client: Callable[..., Any]  # (service, Region or None) -> client


def connect(settings: Settings) -> Services:
    return Services(
        dynamodb=aws.lazy_client("dynamodb"),
        sqs=aws.lazy_client("sqs"),
        s3=aws.lazy_client("s3"),
        client=aws.client,
    )


def collect(
    settings: Settings,
    services: Services,
    account_id: str,
    remaining_ms: Callable[[], int],
    trigger: Trigger = SCHEDULED,
) -> CollectOutcome:
    """One run of the configured source into the stack's queue, table and bucket: from the
    cursor (the schedule), or for the one report or Health event an event names."""
    source = build_source(settings, services, account_id, remaining_ms, trigger)
    collector = Collector(
        source=source,
        ctx=Context(account_id, settings.region_list(), settings.product_arn),
        store=Store(
            services.dynamodb,
            settings.tracking_table,
            Retry(
                max_attempts=8,
                base_s=0.05,
                cap_s=2.0,
                remaining_ms=remaining_ms,
                reserve_ms=settings.deadline_margin_ms,
            ),
            defer=True,
            bodies=(
                BodyStore(services.s3, settings.reports_bucket, settings.errors_prefix)
                if settings.reports_bucket
                else None
            ),
        ),
        queue=FindingQueue(services.sqs, settings.findings_queue_url, settings.max_message_bytes),
        errors=ErrorReport(
            services.s3, settings.reports_bucket, settings.errors_prefix, source.name
        ),
        policy=Policy(
            renewal_mode=settings.renewal_mode,
            renewal_days=settings.renewal_days,
            severity_floor=settings.severity_floor,
            cvss_floor=settings.cvss_floor,
        ),
        limits=Limits(max_finding_bytes=settings.max_finding_bytes),
        time_left=lambda: remaining_ms() > settings.deadline_margin_ms,
        sweeps=isinstance(trigger, Scheduled),
    )
    return collector.run()


def refuse(settings: Settings, services: Services, event: Any, reason: str) -> CollectOutcome:
    """An event the collector does not read: one error naming it, and the event kept in the
    error report for the operator; nothing else is read (the schedule goes on as before)."""
    errors = ErrorReport(
        services.s3, settings.reports_bucket, settings.errors_prefix, settings.source or "none"
    )
    errors.add("event", reason, event)
    outcome = CollectOutcome(malformed=1, error=f"EventError: {reason}")
    if written := errors.flush(asff.now_utc(), best_effort=True):
        outcome.error_reports.append(written)
    return outcome


def build_source(
    settings: Settings,
    services: Services,
    account_id: str,
    remaining_ms: Callable[[], int],
    trigger: Trigger = SCHEDULED,
) -> Source:
    # Imported here: each source pulls in only what it needs at cold start.
    if settings.source == "scanner_reports":
        from hubrelay.sources.scanner_reports import ScannerReportsSource

        return ScannerReportsSource(
            services.s3,
            settings.reports_bucket,
            settings.reports_prefix,
            skip_prefix=settings.errors_prefix,
            max_bytes=settings.max_report_bytes,
            only=(trigger.key, trigger.etag) if isinstance(trigger, ReportCreated) else None,
        )
    if settings.source == "health" and isinstance(trigger, HealthEvent):
        from hubrelay.sources.health import HealthEventSource

        return HealthEventSource(trigger.event, lambda: _health_client(settings, services))
    if settings.source == "vendor_api":
        from hubrelay import http
        from hubrelay.sources.vendor_api import VendorApiSource, auth_headers

        # Cached across warm invocations (secret_max_age_s, 5 minutes by default, as the
        # responder's secrets); never put in env vars or logs.
        secret = aws.secret(settings.vendor_secret_arn, settings.region, settings.secret_max_age_s)
        client = http.Client(
            timeout_s=settings.http_timeout_s,
            max_reply_bytes=settings.http_max_reply_bytes,
            retry=Retry(
                max_attempts=5,
                base_s=0.5,
                cap_s=settings.max_retry_backoff_s,
                sleep=_deadline_sleep(remaining_ms, settings.deadline_margin_ms),
            ),
        )
        return VendorApiSource(
            settings.vendor_api_url,
            vendor_mapping(settings, services),
            client,
            auth_headers(secret),
            overlap_s=settings.vendor_watermark_overlap_s,
        )
    if settings.source == "health":
        from hubrelay.sources.health import HealthSource

        return HealthSource(_health_client(settings, services), account_id)
    raise ValueError(f"HUBRELAY_SOURCE {settings.source!r} is not a source")


def _health_client(settings: Settings, services: Services) -> Any:
    from hubrelay.sources.health import GLOBAL_REGIONS

    # The Health API is served from one Region per partition.
    endpoint = GLOBAL_REGIONS.get(asff.partition_for(settings.region), "us-east-1")
    return services.client("health", endpoint)


def vendor_mapping(settings: Settings, services: Services) -> VendorMapping:
    """The configured vendor mapping (hubrelay.sources.mapping_store), cached by Powertools
    for `vendor_mapping_max_age_s`; MappingConfigError names the mapping and the field."""
    from hubrelay.sources import mapping_store

    return mapping_store.load(
        settings.vendor_mapping, s3=services.s3, max_age=settings.vendor_mapping_max_age_s
    )


def check_vendor_mapping(settings: Settings, services: Services) -> None:
    """At cold start: a vendor mapping that cannot work stops the function here, with one
    error naming the field, instead of failing every run."""
    if settings.source == "vendor_api":
        vendor_mapping(settings, services)


def _deadline_sleep(remaining_ms: Callable[[], int], margin_ms: int) -> Callable[[float], None]:
    """A sleep for retries that refuses to wait past the invocation's deadline."""

    def wait(seconds: float) -> None:
        if remaining_ms() - margin_ms < seconds * 1000:
            raise SourceError(f"no time left to wait {seconds:.1f} s before retrying")
        time.sleep(seconds)

    return wait
