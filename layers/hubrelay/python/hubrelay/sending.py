"""BatchImportFindings calls: send, split what Security Hub refuses as a whole, retry what
may pass later, and quarantine what never will.

What each error code means comes from `hubrelay.errors.SECURITY_HUB_CODES`. A call is
never started inside the deadline margin (it could outlive the invocation); findings left
over then are *unresolved*: their messages are delivered again by SQS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from hubrelay import delivery, errors
from hubrelay.errors import Meaning
from hubrelay.gathering import Item
from hubrelay.observability import logger
from hubrelay.packing import ByteBudget, Call
from hubrelay.quarantine import Quarantine
from hubrelay.retry import Retry

ClientFor = Callable[[str], Any]  # region -> Security Hub client


@dataclass
class Tally:
    imported: int = 0
    calls: int = 0
    throttles: int = 0
    retries: int = 0
    unresolved: list[Item] = field(default_factory=list)
    # (account, Region) of re-sent undelivered findings that were imported: their delivery
    # backoff is reset (hubrelay.delivery).
    recovered: set[tuple[str, str]] = field(default_factory=set)


def call_of(group: tuple[str, ...], items: list[Item], attempt: int = 0) -> Call[Item]:
    return Call(group, items, sum(i.size for i in items), attempt)


def _scope(call: Call[Item]) -> tuple[str, str]:
    """What Security Hub meters a call by: (account, Region)."""
    return call.group[1], call.group[0]


def _classify(error: ClientError | BotoCoreError) -> tuple[str, str, Meaning]:
    """(code, message, meaning) of a failed call."""
    if not isinstance(error, ClientError):
        # Below the HTTP response (timeouts, connection, TLS, truncated streams): a later
        # attempt can succeed.
        return type(error).__name__, str(error), Meaning.TRANSIENT
    detail = error.response.get("Error", {})
    code = str(detail.get("Code", "Unknown"))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    return code, str(detail.get("Message", error)), errors.meaning(code, status)


@dataclass
class ImportSender:
    client_for: ClientFor
    quarantine: Quarantine
    retry: Retry
    time_for_a_call: Callable[[], bool]
    # Told after each call (`hubrelay send` shows progress from it).
    on_call: Callable[[Tally], None] | None = None
    budget: ByteBudget | None = None
    tally: Tally = field(default_factory=Tally)

    def send_all(self, calls: list[Call[Item]]) -> None:
        pending = list(calls)
        while pending:
            self._send(pending.pop(0), pending)
            if self.on_call is not None:
                self.on_call(self.tally)

    def _send(self, call: Call[Item], pending: list[Call[Item]]) -> None:
        attempt = call.attempt
        while True:
            if not self.time_for_a_call() or not self.retry.wait_turn(_scope(call)):
                # A call started now could outlive the invocation: leave it to redelivery.
                self._give_up(call.items, "no time left in this invocation")
                return
            self.tally.calls += 1
            try:
                response = self.client_for(call.group[0]).batch_import_findings(
                    Findings=[item.finding for item in call.items]
                )
            except ParamValidationError as exc:  # a BotoCoreError that no retry can fix
                self._refuse(call.items, "ParamValidation", str(exc))
                return
            except (ClientError, BotoCoreError) as exc:
                code, text, meaning = _classify(exc)
                reason = f"{code}: {text}"
                if meaning in (Meaning.THROTTLED, Meaning.TRANSIENT):
                    throttled = meaning is Meaning.THROTTLED
                    self.tally.throttles += throttled
                    if self._backoff(attempt, call, reason, throttled):
                        attempt += 1
                        continue
                    self._give_up(call.items, reason)
                elif meaning is Meaning.TOO_LARGE and len(call.items) > 1:
                    # A request-level rejection names no finding: halve the call until the
                    # bad finding stands alone, so it cannot take the others with it.
                    self._too_large(exc, call)
                    middle = len(call.items) // 2
                    pending[:0] = [
                        call_of(call.group, call.items[:middle], attempt),
                        call_of(call.group, call.items[middle:], attempt),
                    ]
                else:
                    self._refuse(call.items, code, text)
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
                self.tally.imported += 1
                if item.ref is not None and item.ref.retry:
                    self.tally.recovered.add((item.group[1], item.group[0]))
                continue
            code = str(failure.get("ErrorCode") or "Unknown")
            text = str(failure.get("ErrorMessage") or "")
            if errors.retryable(code):
                item.last_error = f"{code}: {text}"
                retry.append(item)
            else:
                self._refuse([item], code, text)
        if retry:
            again = call_of(call.group, retry, attempt + 1)
            # Findings Security Hub could not take right now wait like a throttled call.
            if self._backoff(attempt, again, retry[0].last_error):
                pending.insert(0, again)
            else:
                self._give_up(retry, retry[0].last_error)

    def _too_large(self, error: ClientError | BotoCoreError, call: Call[Item]) -> None:
        """A 413 (the request over Security Hub's size limit, not a bad finding): later
        calls of this container are packed under half the refused size."""
        if not isinstance(error, ClientError) or self.budget is None:
            return
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.response.get("Error", {}).get("Code")
        if status != 413 and code != "RequestEntityTooLargeException":
            return
        if self.budget.refused(call.size):
            logger.warning(
                "request refused as too large: byte budget halved for this container",
                request_bytes=call.size,
                byte_budget=self.budget.current,
            )

    def _refuse(self, items: list[Item], code: str, reason: str) -> None:
        for item in items:
            told = item.undelivered(code) if delivery.outside_cause(code) else None
            self.quarantine.add(
                sorted(item.origins), item.finding_id, code, reason, item.finding, told
            )

    def _give_up(self, items: list[Item], error: str) -> None:
        for item in items:
            item.last_error = error
        self.tally.unresolved.extend(items)

    def _backoff(self, attempt: int, call: Call[Item], why: str, throttled: bool = False) -> bool:
        """Wait before another attempt if attempts and the invocation's time allow it; after
        a 429 with pacing on, the wait is the token bucket's (hubrelay.retry.Pace)."""
        again = (
            self.retry.throttled(_scope(call), attempt + 1)
            if throttled
            else self.retry.pause(attempt + 1)
        )
        if not again:
            logger.warning(
                "giving up retrying BatchImportFindings",
                reason=why,
                findings=len(call.items),
                attempts=attempt + 1,
            )
            return False
        self.tally.retries += 1
        logger.info("retried BatchImportFindings", reason=why, attempt=attempt + 2)
        return True
