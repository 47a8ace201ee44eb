"""Import findings from queue messages into Security Hub, losing none.

Every finding ends in exactly one of three states: imported; quarantined (sent to the
dead-letter queue with its error code and reason, because retrying cannot fix it); or
unresolved (a transient failure outlived the invocation's time). A message is reported
done only when none of its findings is unresolved; otherwise SQS delivers it again, and
re-importing the findings that did succeed only overwrites them (same ProductArn and Id).
On a message's last receive (`max_receive_count`, the queue's redrive setting) unresolved
findings are quarantined with their last error instead, so that nothing reaches the
dead-letter queue without a reason.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from hubrelay import asff, message
from hubrelay.packing import Call, Sized, lower_bound, pack
from hubrelay.settings import Settings

# Error codes that a later attempt can succeed on. Anything else (InvalidInput,
# InvalidAccess, AccessDenied, AuthorizerConfiguration...) is a property of the finding or
# the account and is quarantined rather than retried forever.
TRANSIENT_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "LimitExceededException",
        "InternalException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ExpiredTokenException",
    }
)
THROTTLE_CODES = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling"})
# Everything botocore raises below the HTTP response (timeouts, connection, TLS, proxy,
# truncated streams) can succeed on a later attempt. ParamValidationError, also a
# BotoCoreError, is caught first: it never will.
NETWORK_ERRORS = (BotoCoreError,)
# A request too large for Security Hub names no finding: split it like InvalidInput.
SPLIT_CODES = frozenset({"InvalidInputException", "RequestEntityTooLargeException"})
# Bytes botocore adds around the findings: '{"Findings": [' + ']}', and ', ' between two.
REQUEST_ENVELOPE = len('{"Findings": []}')
SEPARATOR = len(", ")

ClientFor = Callable[[str], Any]  # region -> Security Hub client


@dataclass
class Item:
    """A finding in flight, with the SQS messages it came from."""

    finding: dict[str, Any]
    origins: set[str]
    size: int
    last_error: str = ""

    @property
    def finding_id(self) -> str:
        return str(self.finding.get("Id", "?"))


@dataclass(frozen=True)
class Quarantined:
    origins: tuple[str, ...]
    finding_id: str
    code: str
    reason: str
    body: str


@dataclass
class Outcome:
    received: int = 0
    imported: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)
    unresolved: list[Item] = field(default_factory=list)
    failed_messages: set[str] = field(default_factory=set)
    calls: int = 0
    lower_bound: int = 0
    throttles: int = 0
    retries: int = 0

    def reasons(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for q in self.quarantined:
            counts[q.code] = counts.get(q.code, 0) + 1
        return counts


@dataclass
class Importer:
    """One invocation's work. Clients are passed in, so tests drive it against moto."""

    client_for: ClientFor
    sqs: Any
    settings: Settings
    remaining_ms: Callable[[], int] = lambda: 900_000
    sleep: Callable[[float], None] = lambda seconds: time.sleep(seconds)
    log: Callable[..., None] = lambda *args, **kwargs: None
    outcome: Outcome = field(default_factory=Outcome)

    def run(self, records: Iterable[tuple[str, str, int]]) -> Outcome:
        """Import the findings of (message id, body, receive count) records."""
        records = list(records)
        final = {mid for mid, _, count in records if count >= self.settings.max_receive_count}
        items = self._collect((mid, body) for mid, body, _ in records)
        # Each finding costs its bytes and a separator; the envelope comes off the budget,
        # so no request exceeds it even at the 6 MB maximum.
        budget = self.settings.batch_byte_budget - REQUEST_ENVELOPE
        calls = pack(
            (Sized(item, self._group(item), item.size + SEPARATOR) for item in items), budget
        )
        self.outcome.lower_bound = sum(
            lower_bound([i.size for i in group_items], self.settings.batch_byte_budget)
            for group_items in _by_group(calls)
        )
        pending = list(calls)
        while pending:
            self._send(pending.pop(0), pending)
        # A finding from a message on its last receive is kept with its reason now: after
        # this, SQS would move the message without one.
        last_chance = [i for i in self.outcome.unresolved if i.origins & final]
        for item in last_chance:
            self._quarantine_item(item, "RetriesExhausted", f"last error: {item.last_error}")
        self.outcome.unresolved = [i for i in self.outcome.unresolved if not i.origins & final]
        self._flush_quarantine()
        self.outcome.failed_messages |= {
            o for item in self.outcome.unresolved for o in item.origins
        }
        return self.outcome

    # --- gathering ---------------------------------------------------------------------

    def _collect(self, records: Iterable[tuple[str, str]]) -> list[Item]:
        latest: dict[tuple[str, str], Item] = {}
        for message_id, body in records:
            try:
                findings = message.decode(body)
            except message.MessageError as exc:
                self._quarantine((message_id,), "-", "MalformedMessage", str(exc), body)
                continue
            for finding in findings:
                self.outcome.received += 1
                violations = asff.validate_finding(
                    finding, max_finding_bytes=self.settings.max_finding_bytes
                )
                if violations:
                    reason = "; ".join(str(v) for v in violations)
                    fid = violations[0].finding_id
                    self._quarantine((message_id,), fid, "InvalidFinding", reason, finding)
                    continue
                item = Item(finding, {message_id}, asff.finding_size(finding))
                key = (finding["ProductArn"], finding["Id"])
                # The same finding twice in one invocation (a redelivery, a producer's
                # retry) is sent once: the newer version, answering for both messages.
                previous = latest.get(key)
                if previous is not None:
                    item.origins |= previous.origins
                    if _updated_at(previous.finding) > _updated_at(finding):
                        previous.origins = item.origins
                        continue
                latest[key] = item
        return list(latest.values())

    @staticmethod
    def _group(item: Item) -> tuple[str, str]:
        return (asff.region_of(item.finding["ProductArn"]) or "", item.finding["AwsAccountId"])

    # --- calling Security Hub ----------------------------------------------------------

    def _send(self, call: Call[Item], pending: list[Call[Item]]) -> None:
        region = call.group[0]
        attempt = call.attempt
        while True:
            if self.remaining_ms() <= self.settings.deadline_margin_ms:
                # A call started now could outlive the invocation: leave it to redelivery.
                self._give_up(call, "no time left in this invocation")
                return
            self.outcome.calls += 1
            try:
                response = self.client_for(region).batch_import_findings(
                    Findings=[item.finding for item in call.items]
                )
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", "Unknown"))
                text = str(error.get("Message", exc))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
                if code in SPLIT_CODES or status == 413:
                    if len(call.items) > 1:
                        # A request-level rejection names no finding: halve the call until
                        # the bad finding stands alone, so it cannot take the others with it.
                        middle = len(call.items) // 2
                        pending[:0] = [
                            _call(call.group, call.items[:middle], attempt),
                            _call(call.group, call.items[middle:], attempt),
                        ]
                    else:
                        self._quarantine_item(call.items[0], code, text)
                elif code in TRANSIENT_CODES or status == 429 or status >= 500:
                    self.outcome.throttles += code in THROTTLE_CODES or status == 429
                    if self._backoff(attempt, call, f"{code}: {text}"):
                        attempt += 1
                        continue
                    self._give_up(call, f"{code}: {text}")
                else:
                    for item in call.items:
                        self._quarantine_item(item, code, text)
                return
            except ParamValidationError as exc:
                for item in call.items:
                    self._quarantine_item(item, "ParamValidation", str(exc))
                return
            except NETWORK_ERRORS as exc:
                if self._backoff(attempt, call, f"{type(exc).__name__}: {exc}"):
                    attempt += 1
                    continue
                self._give_up(call, f"{type(exc).__name__}: {exc}")
                return
            self._settle(call, response, pending, attempt)
            return

    def _settle(
        self, call: Call[Item], response: dict[str, Any], pending: list[Call[Item]], attempt: int
    ) -> None:
        failed = {f.get("Id"): f for f in response.get("FailedFindings", [])}
        retry: list[Item] = []
        for item in call.items:
            failure = failed.get(item.finding_id)
            if failure is None:
                self.outcome.imported += 1
                continue
            code = str(failure.get("ErrorCode") or "Unknown")
            if code in TRANSIENT_CODES:
                item.last_error = f"{code}: {failure.get('ErrorMessage') or ''}"
                retry.append(item)
            else:
                self._quarantine_item(item, code, str(failure.get("ErrorMessage") or ""))
        if retry:
            again = _call(call.group, retry, attempt + 1)
            # Findings Security Hub could not take right now wait like a throttled call.
            if self._backoff(attempt, again, retry[0].last_error):
                pending.insert(0, again)
            else:
                self._give_up(again, retry[0].last_error)

    def _give_up(self, call: Call[Item], error: str) -> None:
        for item in call.items:
            item.last_error = error
        self.outcome.unresolved.extend(call.items)

    def _backoff(self, attempt: int, call: Call[Item], why: str) -> bool:
        """Sleep before another attempt if the invocation has time for it."""
        if attempt + 1 >= self.settings.max_import_attempts:
            self.log("retries exhausted", reason=why, findings=len(call.items))
            return False
        delay = random.uniform(
            0, min(self.settings.max_retry_backoff_s, 0.2 * 2 ** min(attempt, 16))
        )
        if self.remaining_ms() - self.settings.deadline_margin_ms < delay * 1000 + 5_000:
            self.log("retry budget exhausted", reason=why, findings=len(call.items))
            return False
        self.outcome.retries += 1
        self.log("retrying BatchImportFindings", reason=why, attempt=attempt + 1, delay=delay)
        self.sleep(delay)
        return True

    # --- quarantine --------------------------------------------------------------------

    def _quarantine_item(self, item: Item, code: str, reason: str) -> None:
        self._quarantine(tuple(sorted(item.origins)), item.finding_id, code, reason, item.finding)

    def _quarantine(
        self, origins: Sequence[str], finding_id: str, code: str, reason: str, payload: Any
    ) -> None:
        body = payload if isinstance(payload, str) else message.encode([payload])
        limit = self.settings.max_message_bytes - 8 * 1024  # room for attributes
        original = len(body.encode())
        keep = limit - 200
        while len(body.encode()) > limit:
            # Too big for SQS: keep as much of its head as fits once escaped, say so, and
            # keep the reason whole.
            head = body.encode()[:keep].decode(errors="ignore")
            body = json.dumps({"truncated": True, "originalBytes": original, "head": head})
            keep //= 2
        self.outcome.quarantined.append(
            Quarantined(tuple(origins), finding_id, code, reason[:4000], body)
        )
        self.log("finding quarantined", finding_id=finding_id, code=code, reason=reason[:1000])

    def _flush_quarantine(self) -> None:
        for chunk in _dlq_batches(self.outcome.quarantined, self.settings.max_message_bytes):
            try:
                response = self.sqs.send_message_batch(
                    QueueUrl=self.settings.quarantine_queue_url,
                    Entries=[_dlq_entry(str(i), q) for i, q in enumerate(chunk)],
                )
                failed_ids = {int(f["Id"]) for f in response.get("Failed", [])}
            except (ClientError, *NETWORK_ERRORS) as exc:
                self.log("quarantine write failed", error=str(exc))
                failed_ids = set(range(len(chunk)))
            for i in failed_ids:
                # Not kept anywhere yet: let SQS deliver the message again.
                self.outcome.failed_messages |= set(chunk[i].origins)


def _dlq_batches(entries: list[Quarantined], max_bytes: int) -> Iterator[list[Quarantined]]:
    """SendMessageBatch calls: at most 10 entries and at most max_bytes in all."""
    batch: list[Quarantined] = []
    size = 0
    for entry in entries:
        cost = len(entry.body.encode()) + 8 * 1024
        if batch and (len(batch) == 10 or size + cost > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += cost
    if batch:
        yield batch


_NOT_SQS_TEXT = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _dlq_entry(entry_id: str, q: Quarantined) -> dict[str, Any]:
    def attr(value: str) -> dict[str, str]:
        # SQS refuses control characters in attribute values; a finding Id may hold any.
        return {"DataType": "String", "StringValue": _NOT_SQS_TEXT.sub("?", value) or "-"}

    return {
        "Id": entry_id,
        "MessageBody": q.body,
        "MessageAttributes": {
            "hubrelay.ErrorCode": attr(q.code),
            "hubrelay.ErrorMessage": attr(q.reason),
            "hubrelay.FindingId": attr(q.finding_id[:512]),
            "hubrelay.SourceMessageIds": attr(",".join(q.origins)[:1024]),
        },
    }


def _call(group: tuple[str, str], items: list[Item], attempt: int = 0) -> Call[Item]:
    return Call(group, items, sum(i.size for i in items), attempt)


def _by_group(calls: list[Call[Item]]) -> list[list[Item]]:
    groups: dict[tuple[str, str], list[Item]] = {}
    for call in calls:
        groups.setdefault(call.group, []).extend(call.items)
    return list(groups.values())


def _updated_at(finding: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(finding.get("UpdatedAt")))
    except ValueError:
        return datetime.min.replace(tzinfo=asff.now_utc().tzinfo)
