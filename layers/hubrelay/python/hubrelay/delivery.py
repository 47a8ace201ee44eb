"""Delivery feedback: the importer tells change tracking what it could not deliver.

A finding quarantined for a cause outside the finding (the account not subscribed to the
product or to Security Hub in that Region, access denied, retries exhausted after
throttling) would otherwise stay "sent" in the tracking table and never be sent again
until it changes. Each queue message the collector writes names, per finding, the
tracking state it came from (`message.Message.refs`); for such a quarantine the importer
marks that finding undelivered in the finding's Region, with the error code, a next-retry
time and the UpdatedAt that was sent, in a small mark item of its own (the importer never
writes the collector's tracking rows, so their layout can change without it). A mark
counts only while the tracking state still records the UpdatedAt it names: a newer send,
or a send the collector never recorded, leaves it stale, and the collector clears it
(`tracking.Store`). The collector re-sends findings whose mark is due
(`tracking.Store.undelivered`, `collector.retry_undelivered`).

The next-retry time backs off per (account, Region), in one item per pair: 5 minutes after
the first failure, doubling per failed retry up to a day, reset when a re-sent finding of
that pair is imported. An account that stays unsubscribed costs one import attempt per
backoff step, not one per finding per run.

Table layout (the tracking table, next to `tracking`'s items):
- mark:      pk "u#<scope>", sk "<base Id>", `u` the UpdatedAt sent, `ur` "undelivered"
  and `nr` (next retry, epoch seconds): the keys of the sparse index `retry`; `ud` the
  Regions not reached (string set), `us` the exact sends lost (`send_of`, string set), `uc`
  the last error code, `expires_at` (TTL). The collector clears a mark by a conditional
  PutItem that keeps only `u` (out of the index), so a newer mark is never lost.
  Rows of earlier releases (pk "f#<scope>") may still carry the same attributes.
- backoff:   pk "b#<account>", sk "<Region>", `n` failed attempts since the last success,
  `nr` the earliest next retry, `uc` the last code.

Every call is an UpdateItem (the importer's only DynamoDB permission). Conditions and
return values: "Condition expressions"
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html),
UpdateItem's ReturnValuesOnConditionCheckFailure
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html): a
failed condition returns the item as it was, without another read, and writes nothing (an
UpdateItem whose condition fails never creates the item).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay import asff, errors
from hubrelay.errors import Meaning
from hubrelay.observability import logger

RETRY_INDEX = "retry"
UNDELIVERED = "undelivered"  # the `ur` value of a row waiting for a re-send
FIRST_BACKOFF_S = 300
MAX_BACKOFF_S = 86_400
# Quarantine codes that say nothing about the finding: the same finding can be imported
# once the account, its subscription or Security Hub's capacity allows it. InvalidInput
# and InvalidFinding are about the finding and are retried only when it changes.
ACCESS_CODES = frozenset({"InvalidAccess", "InvalidAccessException", "AccessDeniedException"})
RETRIES_EXHAUSTED = "RetriesExhausted"  # the importer's code: transient until the last receive
assert all(errors.SECURITY_HUB_CODES[c] is Meaning.REFUSED for c in ACCESS_CODES)


def outside_cause(code: str) -> bool:
    """Whether a quarantine code is about access or capacity, not about the finding."""
    return code == RETRIES_EXHAUSTED or (
        code in ACCESS_CODES and errors.meaning(code) is Meaning.REFUSED
    )


def backoff_s(failures: int) -> int:
    """The wait after `failures` failed attempts in a row (1 = the first failure)."""
    return int(min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** max(0, min(failures, 20) - 1)))


@dataclass(frozen=True)
class Ref:
    """The tracking row a finding of a queue message was sent from."""

    scope: str
    key: str  # the base Id
    retry: bool = False  # a re-send of an undelivered finding

    def item_key(self) -> dict[str, Any]:
        """The key of the finding's mark item."""
        return mark_key(self.scope, self.key)


MARK_DAYS = 100  # a mark outlives any tracked finding it can name (tracking.EXPIRY_DAYS)


def mark_key(scope: str, key: str) -> dict[str, Any]:
    return {"pk": {"S": f"u#{scope}"}, "sk": {"S": key}}


@dataclass(frozen=True)
class Mark:
    """A mark item as the collector reads it."""

    sent: str  # the UpdatedAt of the send it is about
    regions: frozenset[str]
    sends: frozenset[str]

    @classmethod
    def of(cls, item: dict[str, Any]) -> Mark:
        return cls(
            sent=item.get("u", {}).get("S", ""),
            regions=frozenset(item.get("ud", {}).get("SS", [])),
            sends=frozenset(item.get("us", {}).get("SS", [])),
        )


def clear_mark(dynamodb: Any, table: str, scope: str, key: str, sent: str) -> None:
    """Take the mark of the send `sent` out of the retry index: a PutItem keeping only its
    key and `u`, which holds only while the mark is still of that send, so a mark the
    importer made meanwhile (of the re-send) stays."""
    try:
        dynamodb.put_item(
            TableName=table,
            Item={**mark_key(scope, key), "u": {"S": sent}},
            ConditionExpression="u = :sent",
            ExpressionAttributeValues={":sent": {"S": sent}},
        )
    except ClientError as exc:
        if _code(exc) != "ConditionalCheckFailedException":
            raise


@dataclass(frozen=True)
class Undelivered:
    """A finding quarantined for an outside cause, from a tracked send."""

    ref: Ref
    account: str
    region: str
    updated_at: str
    code: str
    origins: tuple[str, ...]
    # The exact send that was lost, "<ProductArn> <Id> <RecordState>" (`send_of`): with a
    # rehome or a new generation the archive under the old product or Id travels next to
    # the current send, and a re-send repeats exactly what was lost.
    send: str = ""


def send_of(finding: dict[str, Any]) -> str:
    """The `us` entry of a send: its ProductArn, Id and RecordState (none holds a space)."""
    state = finding.get("RecordState", "ACTIVE")
    return f"{finding.get('ProductArn', '')} {finding.get('Id', '')} {state}"


def parse_send(entry: str) -> tuple[str, str, str] | None:
    """(ProductArn, Id, RecordState) of a `us` entry, None when it is not one."""
    parts = entry.split(" ")
    if len(parts) != 3 or parts[2] not in ("ACTIVE", "ARCHIVED"):
        return None
    return parts[0], parts[1], parts[2]


@dataclass
class FeedbackOutcome:
    marked: int = 0
    superseded: int = 0  # a newer send is marked already: nothing to mark
    failed: int = 0
    reset: int = 0


@dataclass
class Feedback:
    """The importer's writes to the tracking table (UpdateItem only)."""

    dynamodb: Any
    table: str
    # The collector's clock (its Context.now): one clock for the backoff and the sweep.
    clock: Callable[[], float] = field(default=lambda: asff.now_utc().timestamp())
    outcome: FeedbackOutcome = field(default_factory=FeedbackOutcome)

    def report(
        self, undelivered: Iterable[Undelivered], recovered: Iterable[tuple[str, str]]
    ) -> FeedbackOutcome:
        """Mark what was not delivered; reset the backoff of (account, Region) pairs a
        re-sent finding reached. DynamoDB failing here is logged, never fatal: the
        findings are in the dead-letter queue either way."""
        pending = list(undelivered)
        retry_at: dict[tuple[str, str], float] = {}
        for entry in pending:
            pair = (entry.account, entry.region)
            try:
                if pair not in retry_at:
                    retry_at[pair] = self._back_off(pair, entry.code)
                self._mark(entry, retry_at[pair])
            except (ClientError, BotoCoreError) as exc:
                self.outcome.failed += 1
                logger.error("tracking not told of an undelivered finding", error=str(exc))
        for pair in set(recovered) - set(retry_at):
            try:
                self._reset(pair)
            except (ClientError, BotoCoreError) as exc:
                logger.error("delivery backoff not reset", error=str(exc))
        return self.outcome

    def _mark(self, entry: Undelivered, retry_at: float) -> None:
        """Add the Region (and the exact send) to the mark of this send, or start the mark
        anew over one of an older send; a mark of a newer send is left as it is. Each write
        holds only while the mark is as read (another importer may move it in between)."""
        sent = entry.updated_at
        values: dict[str, Any] = {
            ":ur": {"S": UNDELIVERED},
            ":nr": {"N": repr(retry_at)},
            ":code": {"S": entry.code},
            ":region": {"SS": [entry.region]},
            ":sent": {"S": sent},
            ":exp": {"N": str(int(self.clock()) + MARK_DAYS * 86_400)},
        }
        if entry.send:
            values[":send"] = {"SS": [entry.send]}
        common = "SET ur = :ur, nr = :nr, uc = :code, u = :sent, expires_at = :exp"
        condition = "attribute_not_exists(u) OR u = :sent"
        update = f"{common} ADD ud :region" + (", us :send" if entry.send else "")
        for _ in range(3):
            try:
                self.dynamodb.update_item(
                    TableName=self.table,
                    Key=entry.ref.item_key(),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
                recorded = _old(exc).get("u", {}).get("S")
                if recorded is not None and recorded > sent:
                    self.outcome.superseded += 1  # a newer send's mark
                    return
                # A mark of an older send (or gone meanwhile): this send's starts anew.
                values[":old"] = {"S": recorded or ""}
                condition = "attribute_not_exists(u)" if recorded is None else "u = :old"
                update = f"{common}, ud = :region" + (", us = :send" if entry.send else "")
                update += "" if entry.send else " REMOVE us"
                if recorded is None:
                    values.pop(":old")
                continue
            self.outcome.marked += 1
            return
        raise ClientError(
            {"Error": {"Code": "ConditionalCheckFailedException", "Message": "mark kept moving"}},
            "UpdateItem",
        )

    def _back_off(self, pair: tuple[str, str], code: str) -> float:
        """The next retry time of a (account, Region) pair that failed now: a new window
        after the first failure or once the last window has passed, else the current one."""
        now = self.clock()
        failures, retry_at = 0, 0.0
        for _ in range(3):  # another importer may move the item in between
            condition = "attribute_not_exists(n)" if failures == 0 else "n = :n"
            values = {":n": {"N": str(failures)}} if failures else {}
            try:
                self._update_pair(
                    pair, failures + 1, now + backoff_s(failures + 1), code, condition, values
                )
                return now + backoff_s(failures + 1)
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
                old = _old(exc)
                failures = int(old.get("n", {}).get("N", "0"))
                retry_at = float(old.get("nr", {}).get("N", "0"))
                if failures and retry_at > now:
                    return retry_at  # still inside the window a retry opened
        return max(retry_at, now + FIRST_BACKOFF_S)

    def _update_pair(
        self,
        pair: tuple[str, str],
        failures: int,
        retry_at: float,
        code: str,
        condition: str,
        values: dict[str, Any],
    ) -> None:
        self.dynamodb.update_item(
            TableName=self.table,
            Key=_pair_key(pair),
            UpdateExpression="SET n = :failures, nr = :nr, uc = :code",
            ConditionExpression=condition,
            ExpressionAttributeValues={
                ":failures": {"N": str(failures)},
                ":nr": {"N": repr(retry_at)},
                ":code": {"S": code},
                **values,
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    def _reset(self, pair: tuple[str, str]) -> None:
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=_pair_key(pair),
                UpdateExpression="REMOVE n, nr, uc",
                ConditionExpression="attribute_exists(n)",  # never creates the item
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            return
        self.outcome.reset += 1


def _pair_key(pair: tuple[str, str]) -> dict[str, Any]:
    return {"pk": {"S": f"b#{pair[0]}"}, "sk": {"S": pair[1]}}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _old(exc: ClientError) -> dict[str, Any]:
    item = exc.response.get("Item")
    return dict(item) if isinstance(item, dict) else {}
