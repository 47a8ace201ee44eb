"""Import findings from queue messages into Security Hub, losing none.

Every finding ends in exactly one of three states: imported; quarantined (sent to the
dead-letter queue with its error code and reason, because retrying cannot fix it); or
unresolved (a transient failure outlived the invocation's time). A message is reported
done only when none of its findings is unresolved; otherwise SQS delivers it again, and
re-importing the findings that did succeed only overwrites them (same ProductArn and Id).
On a message's last receive (`max_receive_count`, the queue's redrive setting) unresolved
findings are quarantined with their last error instead, so that nothing reaches the
dead-letter queue without a reason.

The three steps live in their own modules: `gathering` (decode, validate, one finding per
identity), `sending` (calls with split, retry and classification), `quarantine` (the DLQ).
Then `delivery` tells change tracking (when the stack has a collector) which tracked
findings were quarantined for a cause outside the finding, so that the collector sends
them again once the account can receive them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hubrelay.delivery import Feedback, FeedbackOutcome
from hubrelay.gathering import Item, gather
from hubrelay.packing import ByteBudget, Call, Sized, lower_bound, pack
from hubrelay.quarantine import Quarantine, Quarantined
from hubrelay.retry import Pace, Retry
from hubrelay.sending import ClientFor, ImportSender, Tally
from hubrelay.settings import Settings

# Bytes botocore adds around the findings: '{"Findings": [' + ']}', and ', ' between two.
REQUEST_ENVELOPE = len('{"Findings": []}')
SEPARATOR = len(", ")
# A retry's wait must leave this much before the deadline margin for the call after it.
CALL_ROOM_MS = 5_000

QueueRecord = tuple[str, str, int]  # (message id, body, receive count)


@dataclass
class Services:
    securityhub: ClientFor
    sqs: Any
    dynamodb: Any = None  # the tracking table's client; None without a collector
    # The byte budget per call for the container's life (it learns from 413s); None: the
    # configured one, afresh for each call of import_records.
    budget: ByteBudget | None = None
    # Token buckets per (account, Region) for the container's life; None: not paced.
    pace: Pace | None = None


def connect(settings: Settings) -> Services:
    from hubrelay import aws

    dynamodb = aws.lazy_client("dynamodb") if settings.tracking_table else None
    return Services(
        securityhub=aws.securityhub,
        sqs=aws.lazy_client("sqs"),
        dynamodb=dynamodb,
        budget=ByteBudget(settings.batch_byte_budget),
        pace=pace_for(settings),
    )


def pace_for(settings: Settings) -> Pace | None:
    """The importer's pacing of BatchImportFindings per (account, Region), or None."""
    if not settings.import_rate_per_second:
        return None
    return Pace(settings.import_rate_per_second, settings.import_burst)


@dataclass
class ImportOutcome:
    received: int = 0
    imported: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)
    unresolved: list[Item] = field(default_factory=list)
    failed_messages: set[str] = field(default_factory=set)
    calls: int = 0
    lower_bound: int = 0
    throttles: int = 0
    retries: int = 0
    feedback: FeedbackOutcome = field(default_factory=FeedbackOutcome)
    byte_budget: int = 0  # the budget per call at the end of the invocation
    budget_halvings: int = 0  # how often a 413 halved it during the invocation

    def reasons(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for q in self.quarantined:
            counts[q.code] = counts.get(q.code, 0) + 1
        return counts


def import_records(
    records: Iterable[QueueRecord],
    settings: Settings,
    services: Services,
    remaining_ms: Callable[[], int] = lambda: 900_000,
    retry: Retry | None = None,
) -> ImportOutcome:
    """Import the findings of (message id, body, receive count) records."""
    records = list(records)
    final = {mid for mid, _, count in records if count >= settings.max_receive_count}
    quarantine = Quarantine(settings.max_message_bytes)
    items, received = gather(
        ((mid, body) for mid, body, _ in records), settings.max_finding_bytes, quarantine
    )
    retry = retry or retry_for(settings, remaining_ms, services.pace)
    budget = services.budget or ByteBudget(settings.batch_byte_budget)
    halvings = budget.halvings
    sender, calls = deliver(
        items, settings, services.securityhub, quarantine, retry, remaining_ms, budget=budget
    )
    unresolved = keep_last_receives(sender.tally.unresolved, final, quarantine)
    failed = quarantine.flush(services.sqs, settings.quarantine_queue_url, retry)
    tally = sender.tally
    feedback = _tell_tracking(quarantine, tally.recovered, settings, services)
    return ImportOutcome(
        received=received,
        imported=tally.imported,
        quarantined=quarantine.entries,
        unresolved=unresolved,
        failed_messages=failed | {o for item in unresolved for o in item.origins},
        calls=tally.calls,
        lower_bound=calls_lower_bound(calls, settings),
        throttles=tally.throttles,
        retries=tally.retries,
        feedback=feedback,
        byte_budget=budget.current,
        budget_halvings=budget.halvings - halvings,
    )


def retry_for(
    settings: Settings, remaining_ms: Callable[[], int], pace: Pace | None = None
) -> Retry:
    """The importer's retry policy for its calls (Security Hub and the dead-letter queue),
    pacing Security Hub's calls with `pace`."""
    return Retry(
        max_attempts=settings.max_import_attempts,
        base_s=0.2,
        cap_s=settings.max_retry_backoff_s,
        remaining_ms=remaining_ms,
        reserve_ms=settings.deadline_margin_ms + CALL_ROOM_MS,
        pace=pace,
    )


def deliver(
    items: list[Item],
    settings: Settings,
    client_for: ClientFor,
    quarantine: Quarantine,
    retry: Retry,
    remaining_ms: Callable[[], int],
    on_call: Callable[[Tally], None] | None = None,
    budget: ByteBudget | None = None,
) -> tuple[ImportSender, list[Call[Item]]]:
    """Pack valid findings into BatchImportFindings calls and send them with split, retry
    and classification (the importer's one path; `hubrelay send` uses it too). `budget`
    learns from 413s (hubrelay.packing.ByteBudget); None: the configured one."""
    budget = budget or ByteBudget(settings.batch_byte_budget)
    calls = plan_calls(items, settings, budget)
    sender = ImportSender(
        client_for,
        quarantine,
        retry,
        time_for_a_call=lambda: remaining_ms() > settings.deadline_margin_ms,
        on_call=on_call,
        budget=budget,
    )
    sender.send_all(calls)
    return sender, calls


def plan_calls(
    items: Iterable[Item], settings: Settings, budget: ByteBudget | None = None
) -> list[Call[Item]]:
    """The BatchImportFindings calls for valid findings (the one batching function): one
    packing over every finding of every message of the invocation."""
    # Each finding costs its bytes and a separator; the envelope comes off the budget, so
    # no request exceeds it even at the 6 MB maximum.
    current = budget.current if budget is not None else settings.batch_byte_budget
    room = current - REQUEST_ENVELOPE
    return pack((Sized(item, item.group, item.size + SEPARATOR) for item in items), room)


def calls_lower_bound(calls: Iterable[Call[Item]], settings: Settings) -> int:
    return sum(
        lower_bound([i.size for i in group], settings.batch_byte_budget)
        for group in _by_group(calls)
    )


def keep_last_receives(items: list[Item], final: set[str], quarantine: Quarantine) -> list[Item]:
    """Quarantine, with their last error, the unresolved findings of messages on their last
    receive (after this SQS would move the message without a reason); the others."""
    unresolved = []
    for item in items:
        if item.origins & final:
            reason = f"last error: {item.last_error}"
            code = "RetriesExhausted"
            told = item.undelivered(code)
            quarantine.add(sorted(item.origins), item.finding_id, code, reason, item.finding, told)
        else:
            unresolved.append(item)
    return unresolved


def _tell_tracking(
    quarantine: Quarantine,
    recovered: set[tuple[str, str]],
    settings: Settings,
    services: Services,
) -> FeedbackOutcome:
    """Mark in change tracking what was quarantined for an outside cause (hubrelay.delivery)."""
    if services.dynamodb is None or not settings.tracking_table:
        return FeedbackOutcome()
    undelivered = [q.undelivered for q in quarantine.entries if q.undelivered is not None]
    if not undelivered and not recovered:
        return FeedbackOutcome()
    return Feedback(services.dynamodb, settings.tracking_table).report(undelivered, recovered)


def _by_group(calls: Iterable[Any]) -> list[list[Item]]:
    groups: dict[tuple[str, ...], list[Item]] = {}
    for call in calls:
        groups.setdefault(call.group, []).extend(call.items)
    return list(groups.values())
