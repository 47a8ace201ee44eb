"""The responder: route one Security Hub event out, then write the outcome back.

decide -> plan_deliveries -> per delivery: once (idempotency) -> send through the
destination's registry entry (retries inside the destination) -> on failure, the finding's
delivery goes to the responder's dead-letter queue with the reason, and every other
delivery carries on -> BatchUpdateFindings.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay import responder_v2, writeback, writeback_v2
from hubrelay.asff import FindingKey
from hubrelay.destinations import REGISTRY
from hubrelay.errors import DeliveryError, TransientError
from hubrelay.http import Client
from hubrelay.idempotency import InProgress, Ledger, NoLedger
from hubrelay.observability import logger
from hubrelay.retry import Retry
from hubrelay.route_types import Decision, Delivery, Outlets
from hubrelay.routing import RouteConfig, decide, plan_deliveries
from hubrelay.settings import Settings, auto_route_window_minutes

DLQ_VERSION = 1


class WriteBackError(TransientError):
    """Deliveries happened but Security Hub did not record them yet: retry the event."""


class DeadLetterError(TransientError):
    """A failed delivery could not be parked in the dead-letter queue: retry the event."""


@dataclass
class Services:
    """Everything the responder talks to: Security Hub, its dead-letter queue, the
    idempotency ledger and the destinations' outlets."""

    securityhub: Callable[[str], Any]  # Region -> client
    sqs: Any
    ledger: Ledger | NoLedger
    outlets: Outlets
    # What was sent where for the new Security Hub's findings (they cannot carry it).
    sent_v2: writeback_v2.SentRecords | None = None


Sends = list[tuple[str, list[FindingKey], str]]  # (destination, findings, reference or why)


@dataclass
class RouteOutcome:
    decision: Decision
    delivered: Sends = field(default_factory=list)
    duplicates: Sends = field(default_factory=list)
    failed: Sends = field(default_factory=list)
    dead_lettered: int = 0
    writeback: writeback.Result | None = None


def dead_letter_body(
    event: Mapping[str, Any], delivery: Delivery, reason: str, decision: Decision
) -> str:
    """The DLQ message: the reason, and the event narrowed to the failed findings.

    `event` can be replayed as is (`hubrelay route`, or sent back to the responder):
    idempotency keeps the deliveries that did succeed from being repeated.
    """
    replay = copy.deepcopy(dict(event))
    wanted = set(delivery.keys)
    detail = replay.get("detail")
    if not isinstance(detail, dict):
        detail = replay["detail"] = {}
    detail["findings"] = [
        f for f in detail.get("findings", []) if isinstance(f, dict) and _finding_key(f) in wanted
    ]
    route = decision.route
    return json.dumps(
        {
            "version": DLQ_VERSION,
            "reason": reason,
            "destination": delivery.destination,
            "route": {"kind": route.kind, "name": route.name, "action": route.action}
            if route
            else None,
            "findings": [{"ProductArn": arn, "Id": fid} for arn, fid in delivery.keys],
            "event": replay,
        }
    )


def _finding_key(raw: Mapping[str, Any]) -> tuple[Any, Any]:
    """(ProductArn, Id) of an ASFF finding; (metadata.product.uid, metadata.uid) of OCSF."""
    metadata = raw.get("metadata")
    if isinstance(metadata, dict):
        product = metadata.get("product")
        return (product.get("uid") if isinstance(product, dict) else None, metadata.get("uid"))
    return (raw.get("ProductArn"), raw.get("Id"))


def respond(
    event: Any, settings: Settings, config: RouteConfig, services: Services
) -> RouteOutcome:
    decision = decide(event, config)
    outcome = RouteOutcome(decision)
    if not decision.accepted or decision.route is None:
        return outcome
    read_state(decision, settings, services)
    sent: dict[FindingKey, list[writeback.Sent]] = {}
    dead_letter_failures: list[str] = []
    for delivery in plan_deliveries(decision, config):
        try:
            reference = _deliver_once(delivery, decision, settings, services, outcome)
        except DeliveryError as error:
            reason = str(error)
            outcome.failed.append((delivery.destination, delivery.keys, reason))
            _owe(decision, delivery, services)
            if _dead_letter(services, settings, event, delivery, reason, decision):
                outcome.dead_lettered += 1
            else:
                dead_letter_failures.append(reason)
            continue
        if reference is None:
            continue
        for finding in delivery.findings:
            reopened = finding.reopening(delivery.destination, decision.route.kind)
            sent.setdefault(finding.key, []).append(
                writeback.Sent(delivery.destination, reference, reopened)
            )
    if sent:
        # Duplicates are written back too: the invocation that delivered may have stopped
        # before its own write-back, which is then done here from the current state.
        _write_back(decision, sent, settings, services, outcome)
    if dead_letter_failures:
        raise DeadLetterError(
            f"{len(dead_letter_failures)} failed deliveries could not be dead-lettered"
        )
    return outcome


def read_state(decision: Decision, settings: Settings, services: Services) -> None:
    """What Security Hub and the records hold now, applied to the decision: the automatic
    route's stale copies skipped, the destinations owed narrowed, the V2 marks given."""
    try:
        client = services.securityhub(decision.region or settings.region)
        _skip_stale(decision, client, _retry(settings))
        responder_v2.prepare(decision, client, services.sent_v2)
    except (ClientError, BotoCoreError) as error:
        # Without the current state or the records a finding could be sent again: retry.
        raise WriteBackError(f"cannot read the finding's state or records: {error}") from None


def _owe(decision: Decision, delivery: Delivery, services: Services) -> None:
    """Record a failed delivery of V2 findings before the write-back moves them out of New
    (`responder_v2.prepare` reads it on the retry or the replay). Unrecorded, the finding
    would stay New: the event is retried then, and the ledger makes the destinations that
    took it duplicates."""
    try:
        responder_v2.owe(decision, delivery, services.sent_v2)
    except (ClientError, BotoCoreError) as error:
        raise WriteBackError(
            f"cannot record the failed delivery to {delivery.destination}: {error}"
        ) from None


def _retry(settings: Settings) -> Retry:
    return Retry(max_attempts=4, base_s=0.4, cap_s=settings.max_retry_backoff_s)


def _skip_stale(decision: Decision, client: Any, retry: Retry) -> None:
    """Skip the Security Hub CSPM findings the automatic route must not send now: those
    Security Hub holds as no longer NEW and ACTIVE (GetFindings), or whose every route
    destination has the event copy's round; narrow the others to the destinations owed.

    The event's copy may be stale: the queue's batching window, a retry after the queue's
    visibility timeout, EventBridge retrying for an hour, a dead-letter replay. Meanwhile an
    analyst may have suppressed or resolved the finding, its provider archived it, or an
    earlier copy of the event notified it (NOTIFIED, past the idempotency window). The new
    Security Hub's findings are checked the same way (`responder_v2.prepare`). A finding
    GetFindings does not return, or returns as older than the event's copy (UpdatedAt: the
    read is behind the import that reopened it), is sent as the event has it: nothing says
    it was settled since. A NEW or NOTIFIED one is sent to the destinations whose marks
    lack the copy's round, and only to them (`_undelivered`). A custom action is a
    person's explicit request: always sent."""
    route = decision.route
    findings = [f for f in decision.findings if not f.is_v2]
    if route is None or route.kind != "auto" or not findings:
        return
    current = writeback.read_current(client, [f.key for f in findings], retry)
    for finding in findings:
        state = current.get(finding.key)
        if state is None or _older(state.updated_at, finding.UpdatedAt):
            continue
        now = f"Workflow.Status {state.workflow_status}, RecordState {state.record_state}"
        if (state.workflow_status, state.record_state) not in _OPEN:
            why = f"no longer NEW and ACTIVE in Security Hub ({now}): the event's copy is stale"
        elif owed := _undelivered(state, finding, route.destinations):
            if owed != frozenset(route.destinations):
                decision.owed[finding.key] = owed
            continue
        else:
            why = f"every destination has this copy's round ({now}): the event's copy is stale"
        decision.findings.remove(finding)
        decision.skipped.append((finding.key, why))


# A finding the automatic route may still owe something to: NEW (first sent, or reopened),
# or NOTIFIED by a write-back after some destination took it.
_OPEN = frozenset({("NEW", "ACTIVE"), ("NOTIFIED", "ACTIVE")})


def _undelivered(
    state: writeback.Current, finding: Any, destinations: tuple[str, ...]
) -> frozenset[str]:
    """The route's destinations whose write-back marks, read now, lack the round of the
    event's copy (`EventFinding.reopening`, from the copy's own marks).

    The write-back marks NOTIFIED once any destination succeeded, so a dead-letter replay
    or a retry of the one that failed must still reach it, and only it: the others had it,
    whether or not the idempotency ledger still remembers. The same holds when the finding
    was reopened (NEW again) since: an old copy's replay is not sent again to the
    destinations that had its round, and one every destination had is stale."""
    return frozenset(d for d in destinations if not state.notified(d, finding.reopening(d, "auto")))


def _older(read: str | None, event: str | None) -> bool:
    """Whether the UpdatedAt read is known to be earlier than the event copy's."""
    try:
        return datetime.fromisoformat(str(read)) < datetime.fromisoformat(str(event))
    except (TypeError, ValueError):  # missing, malformed, or one naive and one aware
        return False


def _deliver_once(
    delivery: Delivery,
    decision: Decision,
    settings: Settings,
    services: Services,
    outcome: RouteOutcome,
) -> str | None:
    """Send one delivery unless the ledger has it: its reference, None when another
    invocation is sending it right now; DeliveryError when the destination refused it."""
    assert decision.route is not None
    key = delivery.idempotency_key(decision.route)
    destination = REGISTRY[delivery.destination]
    try:
        once = services.ledger.once(
            key,
            lambda: destination.send(delivery, key, settings, services.outlets),
            automatic=decision.route.kind == "auto",
        )
    except InProgress:
        outcome.duplicates.append((delivery.destination, delivery.keys, "in progress"))
        return None
    reference = str(once.result.get("reference", ""))
    target = outcome.delivered if once.fresh else outcome.duplicates
    target.append((delivery.destination, delivery.keys, reference))
    return reference


def _write_back(
    decision: Decision,
    sent: Mapping[FindingKey, list[writeback.Sent]],
    settings: Settings,
    services: Services,
    outcome: RouteOutcome,
) -> None:
    assert decision.route is not None
    client = services.securityhub(decision.region or settings.region)
    if responder_v2.is_v2(decision):
        _write_back_v2(client, decision.route.name, sent, settings, services, outcome)
        return
    retry = _retry(settings)
    try:
        current = writeback.read_current(client, sent, retry)
    except (ClientError, BotoCoreError) as error:
        # Without the current state the workflow could be moved from a stale copy: retry.
        raise WriteBackError(f"cannot read the findings' current state: {error}") from None
    # A finding Security Hub no longer holds keeps everything (the update names it and
    # Security Hub answers FindingNotFound).
    status = {
        key: current[key].status_for_write_back() if key in current else "KEEP" for key in sent
    }
    keep_notes = [key for key, state in current.items() if state.analyst_note]
    updates = writeback.build_updates(decision.route.name, sent, status, keep_notes)
    outcome.writeback = writeback.apply(client, updates, retry)
    if pending := writeback.still_pending(outcome.writeback):
        # Without the write-back the finding stays NEW and would be routed again by the
        # next Imported event: fail, so the event is retried; the ledger turns the retry's
        # deliveries into duplicates and only the write-back is redone.
        raise WriteBackError(f"{len(pending)} findings not written back: {pending[:3]}")


def _write_back_v2(
    client: Any,
    route_name: str,
    sent: Mapping[FindingKey, list[writeback.Sent]],
    settings: Settings,
    services: Services,
    outcome: RouteOutcome,
) -> None:
    retry = Retry(max_attempts=4, base_s=0.4, cap_s=settings.max_retry_backoff_s)
    try:
        outcome.writeback = responder_v2.write_back(
            client, route_name, sent, services.sent_v2, retry
        )
    except (ClientError, BotoCoreError) as error:
        # Without the current state (or the records) the finding could be moved from a
        # stale copy or sent again: retry the event.
        raise WriteBackError(f"cannot write the new Security Hub's finding back: {error}") from None
    if pending := writeback.still_pending(outcome.writeback):
        raise WriteBackError(f"{len(pending)} findings not written back: {pending[:3]}")


def _dead_letter(
    services: Services,
    settings: Settings,
    event: Any,
    delivery: Delivery,
    reason: str,
    decision: Decision,
) -> bool:
    if not settings.responder_dlq_url:
        return False
    body = dead_letter_body(event, delivery, reason, decision)
    try:
        services.sqs.send_message(
            QueueUrl=settings.responder_dlq_url,
            MessageBody=body,
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:256]},
                "destination": {"DataType": "String", "StringValue": delivery.destination},
            },
        )
    except (ClientError, BotoCoreError) as error:
        logger.error("responder dead-letter write failed", error=str(error))
        return False
    return True


def connect(settings: Settings) -> Services:
    """Real clients, for the Lambda function and `hubrelay route`, in the stack's Region
    (`hubrelay route --stack NAME --region R` reads a stack in another Region than the
    default one; in the function it is the function's own)."""
    from hubrelay import aws

    region = settings.region

    def secret(arn: str) -> str:
        # Read on a delivery's first use only: the webhook's signing secret and the
        # vendor's token; an SNS or OpsCenter delivery reads none.
        return aws.secret(arn, region, settings.secret_max_age_s)

    ledger: Ledger | NoLedger = (
        Ledger(
            settings.idempotency_table,
            settings.idempotency_window_minutes,
            aws.lazy_client("dynamodb", region),
            auto_route_window_minutes(settings),
        )
        if settings.idempotency_table
        else NoLedger()
    )
    http = Client(
        timeout_s=settings.http_timeout_s,
        max_reply_bytes=settings.http_max_reply_bytes,
        retry=Retry(
            max_attempts=settings.http_max_attempts,
            base_s=0.5,
            cap_s=settings.max_retry_backoff_s,
        ),
    )
    routes_v2 = settings.idempotency_table and settings.securityhubs != "CSPM"
    return Services(
        securityhub=aws.securityhub,
        sqs=aws.lazy_client("sqs", region),
        ledger=ledger,
        outlets=Outlets(
            sns=aws.lazy_client("sns", region),
            ssm=aws.lazy_client("ssm", region),
            secret=secret,
            http=http,
            securityhub=aws.securityhub,
        ),
        sent_v2=writeback_v2.SentRecords(
            settings.idempotency_table, aws.lazy_client("dynamodb", region)
        )
        if routes_v2
        else None,
    )


def preview(
    event: Any,
    config: RouteConfig,
    signing: Mapping[str, str] | None = None,
    services: Services | None = None,
) -> dict[str, Any]:
    """What `respond` would do with `event`, without sending anything (`hubrelay route`).

    The webhook signature depends on the send time and the signing secret: it is computed
    (for now) when `signing` (key id -> signing secret) is given, else shown as a
    placeholder. With a deployed stack's `services`, the findings' current state and
    records are read first, as `respond` reads them (a dead-letter replay shows the
    destinations it would reach); the write-back shown is decided from the event's copy."""
    decision = decide(event, config)
    report = _preview_report(decision)
    if services is not None and decision.accepted and decision.route is not None:
        try:
            read_state(decision, config.settings, services)
        except WriteBackError as error:
            # A preview still shows what the event's copy alone would send, and says so.
            report["stateNotRead"] = str(error)
    route = decision.route
    deliveries = plan_deliveries(decision, config)
    # After planning: the destinations add their own skips ("already sent", "not this
    # product's finding"), and the reason names what is planned.
    report["reason"] = decision.reason
    report["skipped"] = [{"finding": list(k), "why": why} for k, why in decision.skipped]
    if _is_v2_event(event):
        # Each finding by its metadata.uid, with the decision made for it.
        report["findings"] = responder_v2.finding_decisions(event, decision, deliveries)
    if not decision.accepted or route is None:
        return report
    report["route"] = {"kind": route.kind, "name": route.name, "action": route.action}
    sent: dict[FindingKey, list[writeback.Sent]] = {}
    for delivery in deliveries:
        key = delivery.idempotency_key(route)
        entry: dict[str, Any] = {
            "destination": delivery.destination,
            "findings": [{"ProductArn": arn, "Id": fid} for arn, fid in delivery.keys],
            "idempotencyKey": key,
            "payload": delivery.payload,
            **REGISTRY[delivery.destination].preview(delivery, key, signing),
        }
        report["deliveries"].append(entry)
        for finding in delivery.findings:
            placeholder = f"<{delivery.destination} reference>"
            reopened = finding.reopening(delivery.destination, route.kind)
            sent.setdefault(finding.key, []).append(
                writeback.Sent(delivery.destination, placeholder, reopened)
            )
    if responder_v2.is_v2(decision):
        report["writeBack"] = responder_v2.preview_write_back(decision, route.name, sent)
        return report
    status = {f.key: f.workflow_status for f in decision.findings}
    report["writeBack"] = [
        {"operation": "BatchUpdateFindings", "request": update.request()}
        for update in writeback.build_updates(route.name, sent, status)
    ]
    return report


def _preview_report(decision: Decision) -> dict[str, Any]:
    return {
        "accepted": decision.accepted,
        "reason": decision.reason,
        "route": None,
        "deliveries": [],
        "writeBack": [],
        "skipped": [],
        "notOurs": [{"finding": list(k), "why": why} for k, why in decision.foreign],
        "rejectedFindings": [{"index": i, "why": why} for i, why in decision.rejected],
    }


def _is_v2_event(event: Any) -> bool:
    return isinstance(event, Mapping) and event.get("detail-type") == "Findings Imported V2"


def outcome_report(outcome: RouteOutcome) -> dict[str, Any]:
    """A JSON-able summary of what `respond` did."""
    unprocessed = outcome.writeback.unprocessed if outcome.writeback else []
    return {
        "accepted": outcome.decision.accepted,
        "reason": outcome.decision.reason,
        "delivered": [
            {"destination": d, "findings": [list(k) for k in keys], "reference": ref}
            for d, keys, ref in outcome.delivered
        ],
        "duplicates": [
            {"destination": d, "findings": [list(k) for k in keys], "reference": ref}
            for d, keys, ref in outcome.duplicates
        ],
        "failed": [
            {"destination": d, "findings": [list(k) for k in keys], "reason": why}
            for d, keys, why in outcome.failed
        ],
        "deadLettered": outcome.dead_lettered,
        "writeBackUnprocessed": unprocessed,
    }


def settle_verdict(report: dict[str, Any]) -> dict[str, Any]:
    """A report (`preview` or `outcome_report`) of an event whose route took none of its
    findings (every one skipped or rejected) says so: `accepted` false and "0 accepted", not
    an accepted event with nothing in it."""
    taken = [
        *report.get("deliveries", []),
        *report.get("delivered", []),
        *report.get("duplicates", []),
        *report.get("failed", []),
    ]
    if not report.get("accepted") or taken:
        return report
    # Findings, not (finding, destination) skips: a finding skipped by two destinations is
    # one refused.
    skipped = {tuple(entry["finding"]) for entry in report.get("skipped", [])}
    refused = len(skipped) + len(report.get("rejectedFindings", []))
    refused += len(report.get("notOurs", []))
    counted = f", {refused} rejected" if refused else ""
    report["accepted"] = False
    report["reason"] = f"0 accepted{counted}: {report.get('reason', '')}"
    return report
