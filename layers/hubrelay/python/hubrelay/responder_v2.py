"""The responder's part for the new (OCSF-based) Security Hub.

A `Findings Imported V2` event is decided, planned and delivered like any other (its finding
is an `EventFinding` mapped by `hubrelay.ocsf`); what differs is kept here:

- before planning, the automatic route reads the finding's current state (GetFindingsV2):
  one that is no longer New is skipped (the event's copy is stale: a replay, a backlog, or
  our own write-back's event), unless it is In Progress and a destination's delivery of
  the round failed (`owe`, before the write-back): the retry after a DeadLetterError, or
  the replay of the dead-lettered delivery, sends it to those destinations only
  (`SentRecords.owed`). Its marks (what was sent where, how many reopenings were notified)
  come from DynamoDB (`writeback_v2.SentRecords`) into its UserDefinedFields, where a CSPM
  finding carries them itself, so the reopening rounds of the idempotency key work the
  same for both;
- after delivering, the finding is written back with BatchUpdateFindingsV2
  (`writeback_v2.write_back`), then the records are written (conditional, forward only) for
  the findings the write-back is done with: a record is what makes a New finding a
  reopening, so one written before a failed write-back would resend on the retry;
- `hubrelay route` names each finding by its metadata.uid with the decision made for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubrelay import writeback_v2
from hubrelay.asff import FindingKey
from hubrelay.retry import Retry
from hubrelay.route_types import Decision, Delivery, EventFinding
from hubrelay.writeback import Result, Sent, note_text, still_pending


def is_v2(decision: Decision) -> bool:
    return any(f.is_v2 for f in decision.findings)


def prepare(decision: Decision, client: Any, records: writeback_v2.SentRecords | None) -> None:
    """Skip the V2 findings the automatic route must not send now; give the others the
    marks their records hold."""
    route = decision.route
    if route is None or not is_v2(decision):
        return
    current = None
    if route.kind == "auto":
        current = writeback_v2.read_current(client, [f.Id for f in decision.findings])
    for finding in list(decision.findings):
        state = current.get(finding.Id) if current is not None else None
        status = state.status_id if state is not None else None
        sendable = current is None or status == writeback_v2.NEW
        # In Progress: our write-back's, after some destination took it; it may still owe
        # the others the round (`SentRecords.owed`). A stale finding reads no records.
        if records is None or not (sendable or status == writeback_v2.IN_PROGRESS):
            if not sendable:
                _skip_stale(decision, finding, status)
            continue
        marks = records.marks(finding.Id, route.destinations)
        finding.UserDefinedFields.update(marks)
        if sendable:
            continue
        if owed := records.owed(finding.Id, marks, route.destinations):
            decision.owed[finding.key] = frozenset(owed)
        else:
            _skip_stale(decision, finding, status)


def _skip_stale(decision: Decision, finding: EventFinding, status: int | None) -> None:
    now = "gone" if status is None else f"status_id {status}"
    decision.findings.remove(finding)
    decision.skipped.append(
        (finding.key, f"no longer New in Security Hub ({now}): the event's copy is stale")
    )


def owe(decision: Decision, delivery: Delivery, records: writeback_v2.SentRecords | None) -> None:
    """Record the failed delivery of the automatic route's V2 findings (`prepare` sends
    them to `delivery.destination` again when the event is retried or replayed)."""
    route = decision.route
    if records is None or route is None or route.kind != "auto":
        return
    for finding in delivery.findings:
        if finding.is_v2:
            round_ = finding.reopening(delivery.destination, route.kind)
            records.owe(finding.Id, delivery.destination, round_)


def write_back(
    client: Any,
    route_name: str,
    sent: Mapping[FindingKey, list[Sent]],
    records: writeback_v2.SentRecords | None,
    retry: Retry,
) -> Result:
    """Write the findings back (In Progress and a comment), then record every delivery
    of a finding the write-back is done with.

    A record makes the next New copy of the finding a reopening (`prepare`). Written before
    a write-back that failed, it made the retried event, whose finding is still New, a
    reopening: sent again under a new idempotency key (and a new ticket ClientToken). A
    finding still pending keeps no record, so its retry is the same delivery (a duplicate)."""
    by_uid = {key[1]: deliveries for key, deliveries in sent.items()}
    result = writeback_v2.write_back(client, route_name, by_uid, retry)
    if records is not None:
        pending = {str(u.get("MetadataUid")) for u in still_pending(result)}
        for uid, deliveries in by_uid.items():
            if uid in pending:
                continue
            for s in deliveries:
                records.record(uid, s.destination, s.reference, s.reopened)
    return result


def preview_write_back(
    decision: Decision, route_name: str, sent: Mapping[FindingKey, list[Sent]]
) -> list[dict[str, Any]]:
    """The BatchUpdateFindingsV2 requests, decided from the event's copy (the responder
    reads the current state with GetFindingsV2 first)."""
    current: dict[str, writeback_v2.CurrentV2] = {}
    for finding in decision.findings:
        ocsf = finding.Ocsf or {}
        status, comment = ocsf.get("status_id"), ocsf.get("comment")
        current[finding.Id] = writeback_v2.CurrentV2(
            status if isinstance(status, int) else 0, comment if isinstance(comment, str) else None
        )
    own = {key[1]: note_text(route_name, s) for key, s in sent.items()}
    wanted = {uid: writeback_v2.IN_PROGRESS for uid in own if current[uid].status_id == 1}
    return [
        {"operation": "BatchUpdateFindingsV2", "request": request}
        for request in writeback_v2.updates_for(current, wanted, own)
    ]


def finding_decisions(
    event: Any, decision: Decision, deliveries: Sequence[Delivery]
) -> list[dict[str, Any]]:
    """Per finding of a V2 event: its metadata.uid, accepted (and to which destinations)
    or rejected (and why)."""
    out: list[dict[str, Any]] = []
    destinations: dict[str, list[str]] = {}
    for delivery in deliveries:
        for finding in delivery.findings:
            destinations.setdefault(finding.Id, []).append(delivery.destination)
    for finding in decision.findings:
        if finding.Id in destinations:
            out.append(
                {"metadataUid": finding.Id, "decision": "accepted", "to": destinations[finding.Id]}
            )
    for (_, uid), why in [*decision.skipped, *decision.foreign]:
        out.append({"metadataUid": uid, "decision": "rejected", "why": why})
    raw = (event.get("detail") or {}).get("findings") if isinstance(event, Mapping) else None
    for index, why in decision.rejected:
        item = raw[index] if isinstance(raw, list) and index < len(raw) else None
        metadata = item.get("metadata") if isinstance(item, dict) else None
        known = metadata.get("uid") if isinstance(metadata, dict) else None
        out.append({"metadataUid": known, "decision": "rejected", "why": why})
    if not decision.accepted and not out:
        for uid in event.get("resources", []) if isinstance(event, Mapping) else []:
            out.append({"metadataUid": uid, "decision": "rejected", "why": decision.reason})
    return out
