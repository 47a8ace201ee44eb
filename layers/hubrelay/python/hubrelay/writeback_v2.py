"""Write back to the new (OCSF-based) Security Hub with BatchUpdateFindingsV2.

The new Security Hub has no Note and no UserDefinedFields: a finding carries one `comment`
(1 to 512 characters) and a `status_id` ("BatchUpdateFindingsV2",
https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchUpdateFindingsV2.html).
So:

- the status is decided from the finding's current state (GetFindingsV2), never from the
  event's copy: only a New finding (status_id 1) is moved, to In Progress (2) after a
  delivery; a finding that is Suppressed (3), Resolved (4) or Archived (5) keeps its status
  whatever is asked (`set_status`, which the status sync back uses too);
- the comment keeps an analyst's text: hubrelay writes its own part between the markers
  `[hubrelay]` and `[/hubrelay]`, and a rewrite replaces only that part. Someone else's
  text (everything outside the markers) comes first, unchanged; hubrelay's part is cut to
  the room left under 512 characters, and left out when less than `MIN_OWN` characters
  remain (the reference is kept in DynamoDB then, see `SentRecords`);
- what was sent where is kept in DynamoDB per (metadata.uid, destination) (`SentRecords`,
  written once with a conditional put), since V2 findings cannot carry it: a finding that
  comes back as New is not sent to the same destination again.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay import asff, errors
from hubrelay.observability import logger
from hubrelay.retry import Retry
from hubrelay.route_types import MAX_COUNT, marker, reopened_field, reopenings_notified
from hubrelay.writeback import Result, Sent, note_text, read_pages

# 512 characters: the API reference's limit for Comment ("BatchUpdateFindingsV2",
# https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchUpdateFindingsV2.html).
# botocore's model has no length constraint on it (only the pattern .*\S.*), so no
# client-side validation catches a longer one: this constant is what keeps it under.
COMMENT_MAX = 512
MIN_OWN = 48  # hubrelay's part, markers included, or none
OPEN, CLOSE = "[hubrelay]", "[/hubrelay]"
_OWN = re.compile(re.escape(OPEN) + r".*?(?:" + re.escape(CLOSE) + r"|$)", re.S)
MAX_PER_CALL = 100  # MetadataUids per BatchUpdateFindingsV2
# StringFilters per composite filter of GetFindingsV2: our own conservative limit, not
# AWS's. botocore's model gives none (CompositeFilter.StringFilters has no max); 20 is the
# documented cap of GetFindings' values per filter attribute ("AwsSecurityFindingFilters",
# https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_AwsSecurityFindingFilters.html),
# borrowed so one request stays small whatever the V2 service accepts.
MAX_FILTER_VALUES = 20

NEW, IN_PROGRESS, SUPPRESSED, RESOLVED, ARCHIVED = 1, 2, 3, 4, 5
# Never moved out of: someone (or Security Hub) closed these.
SETTLED = frozenset({SUPPRESSED, RESOLVED, ARCHIVED})


@dataclass(frozen=True)
class CurrentV2:
    """What the new Security Hub holds for a finding now."""

    status_id: int
    comment: str | None

    def status_for(self, wanted: int) -> int | None:
        """The StatusId to send for `wanted`, or None to leave the status as it is."""
        if self.status_id in SETTLED or self.status_id == wanted:
            return None
        return wanted


def merged_comment(current: str | None, own: str) -> str | None:
    """The comment to write: the others' text kept, hubrelay's part replaced by `own`.

    None when there is no room left for hubrelay's part (the comment is then not sent).
    """
    others = _OWN.sub("", current or "").strip()
    room = COMMENT_MAX - (len(others) + 2 if others else 0)
    if room < MIN_OWN:
        return None
    text = asff.truncate(own, room - len(OPEN) - len(CLOSE) - 2)
    part = f"{OPEN} {text} {CLOSE}"
    return f"{others}\n\n{part}" if others else part


def read_current(
    client: Any, uids: Iterable[str], retry: Retry | None = None
) -> dict[str, CurrentV2]:
    """The current state of each finding by metadata.uid (GetFindingsV2); a finding the
    new Security Hub does not hold is left out. A throttled or failed read is retried
    (`hubrelay.writeback.read_pages`)."""
    wanted = sorted(set(uids))
    found: dict[str, CurrentV2] = {}
    for start in range(0, len(wanted), MAX_FILTER_VALUES):
        chunk = wanted[start : start + MAX_FILTER_VALUES]
        strings = [
            {"FieldName": "metadata.uid", "Filter": {"Value": uid, "Comparison": "EQUALS"}}
            for uid in chunk
        ]
        filters = {"CompositeFilters": [{"StringFilters": strings, "Operator": "OR"}]}
        for page in read_pages(client.get_findings_v2, retry, Filters=filters):
            for finding in page.get("Findings", []):
                uid = (finding.get("metadata") or {}).get("uid")
                if uid in chunk:
                    status = finding.get("status_id")
                    comment = finding.get("comment")
                    found[uid] = CurrentV2(
                        status if isinstance(status, int) else 0,
                        comment if isinstance(comment, str) else None,
                    )
    return found


def updates_for(
    current: Mapping[str, CurrentV2], wanted_status: Mapping[str, int], own: Mapping[str, str]
) -> list[dict[str, Any]]:
    """BatchUpdateFindingsV2 requests: findings with identical changes share a request."""
    groups: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for uid, state in current.items():
        change: dict[str, Any] = {}
        if uid in wanted_status and (status := state.status_for(wanted_status[uid])) is not None:
            change["StatusId"] = status
        comment = merged_comment(state.comment, own[uid]) if uid in own else None
        if comment is not None and comment != state.comment:
            change["Comment"] = comment
        if change:
            signature = json.dumps(change, sort_keys=True)
            groups.setdefault(signature, (change, []))[1].append(uid)
    requests = []
    for change, uids in groups.values():
        for start in range(0, len(uids), MAX_PER_CALL):
            requests.append({"MetadataUids": uids[start : start + MAX_PER_CALL], **change})
    return requests


def apply(client: Any, requests: Iterable[dict[str, Any]], retry: Retry | None = None) -> Result:
    """Send every request; retry throttling and transient UnprocessedFindings."""
    retry = retry or Retry(max_attempts=4, base_s=0.4)
    result = Result()
    for request in requests:
        pending = list(request["MetadataUids"])
        attempt = 0
        while pending:
            attempt += 1
            result.calls += 1
            try:
                reply = client.batch_update_findings_v2(**{**request, "MetadataUids": pending})
            except (ClientError, BotoCoreError) as error:
                code, status = _code(error)
                if (not code or errors.retryable(code, status)) and retry.pause(attempt):
                    continue
                logger.warning("BatchUpdateFindingsV2 failed", code=code, error=str(error))
                result.unprocessed.extend(
                    {"MetadataUid": u, "ErrorCode": code or "Error", "ErrorMessage": str(error)}
                    for u in pending
                )
                break
            result.processed += len(reply.get("ProcessedFindings", []))
            unprocessed = reply.get("UnprocessedFindings", [])
            final = [u for u in unprocessed if not errors.retryable(str(u.get("ErrorCode")))]
            again = [u for u in unprocessed if errors.retryable(str(u.get("ErrorCode")))]
            result.unprocessed.extend(final)
            pending = [str(u.get("MetadataUid")) for u in again]
            if pending and not retry.pause(attempt):
                result.unprocessed.extend(again)
                break
    return result


def _code(error: ClientError | BotoCoreError) -> tuple[str, int]:
    if not isinstance(error, ClientError):
        return "", 0  # below the HTTP response: a timeout, a dropped connection
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    return str(error.response["Error"]["Code"]), status


def write_back(
    client: Any, route_name: str, sent: Mapping[str, list[Sent]], retry: Retry | None = None
) -> Result:
    """After deliveries: each New finding In Progress, the comment naming where it went."""
    current = read_current(client, sent, retry)
    own = {uid: note_text(route_name, deliveries) for uid, deliveries in sent.items()}
    wanted = dict.fromkeys(sent, IN_PROGRESS)
    # Only a New finding moves: In Progress is what "notified" is in OCSF's status_id.
    wanted = {uid: status for uid, status in wanted.items() if _is_new(current.get(uid))}
    result = apply(client, updates_for(current, wanted, own), retry)
    result.unprocessed.extend(_missing(sent, current))
    return result


def set_status(
    client: Any, uid: str, status_id: int, comment: str, retry: Retry | None = None
) -> Result:
    """Set one finding's StatusId with a comment (hubrelay's part of it), from its current
    state: a Suppressed, Resolved or Archived finding keeps its status (the comment is
    still written). For the status sync back, e.g. `set_status(c, uid, RESOLVED, "...")`."""
    current = read_current(client, [uid], retry)
    result = apply(client, updates_for(current, {uid: status_id}, {uid: comment}), retry)
    result.unprocessed.extend(_missing([uid], current))
    return result


def _is_new(state: CurrentV2 | None) -> bool:
    return state is not None and state.status_id == NEW


def _missing(uids: Iterable[str], current: Mapping[str, CurrentV2]) -> list[dict[str, Any]]:
    return [
        {"MetadataUid": u, "ErrorCode": "ResourceNotFoundException", "ErrorMessage": "Not found"}
        for u in uids
        if u not in current
    ]


# --- What was sent where (DynamoDB) ---------------------------------------------------

SENT_PREFIX = "hubrelay-v2-sent"
# A delivery of the automatic route that failed, per (metadata.uid, destination): the
# round it was for, until a delivery of that round or a later one is recorded (`owed`).
OWED_PREFIX = "hubrelay-v2-owed"
SENT_DAYS = 365
# The largest round read, as of a CSPM finding's marks (route_types.count_of).
MAX_ROUND = MAX_COUNT


class SentRecords:
    """One item per (metadata.uid, destination) in the idempotency table: the reference of
    the last delivery and how many reopenings were notified (what `hubrelay:<destination>`
    and `hubrelay:<destination>:reopened` are in a CSPM finding's UserDefinedFields).

    Written with a conditional put that only moves forward (no item yet, or fewer
    reopenings recorded), so a replayed or late event never rolls a record back. The
    table's key is `id`; `expiration` is its TTL attribute, a year ahead.
    """

    def __init__(self, table: str, client: Any) -> None:
        self.table, self.client = table, client

    @staticmethod
    def key(uid: str, destination: str, prefix: str = SENT_PREFIX) -> dict[str, Any]:
        return {"id": {"S": f"{prefix}#{destination}#{uid}"}}

    def _put_forward(self, item: dict[str, Any], reopened: int) -> bool:
        """Put `item` unless its key already holds `reopened` or a later round: False then
        (nothing is changed)."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                # A round `_round` reads as 0 (another type, or a number over MAX_ROUND:
                # edited by hand) is overwritten as a round 0 would be. `reopened < :n` is
                # not true of another type (values compare within one type), hence
                # attribute_type (https://docs.aws.amazon.com/amazondynamodb/latest/
                # developerguide/Expressions.OperatorsAndFunctions.html); it comes first:
                # moto compares the two types and raises.
                ConditionExpression="attribute_not_exists(id)"
                " OR NOT attribute_type(reopened, :number) OR reopened < :n"
                " OR reopened > :max",
                ExpressionAttributeValues={
                    ":n": {"N": str(reopened)},
                    ":number": {"S": "N"},
                    ":max": {"N": str(MAX_ROUND)},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def marks(self, uid: str, destinations: Iterable[str]) -> dict[str, str]:
        """The finding's marks as UserDefinedFields would hold them, for `destinations`."""
        found: dict[str, str] = {}
        for destination in destinations:
            reply = self.client.get_item(
                TableName=self.table, Key=self.key(uid, destination), ConsistentRead=True
            )
            item = reply.get("Item") or {}
            if "reference" in item:
                # Only a delivery is recorded: an item edited into other values still
                # stands for one (a re-send would be a second ticket).
                found[marker(destination)] = _value(item["reference"]) or "sent"
                found[reopened_field(destination)] = str(_round(item.get("reopened")))
        return found

    def owe(self, uid: str, destination: str, reopened: int) -> None:
        """Record that the delivery of reopening `reopened` to `destination` failed: a
        conditional put that only moves forward, so a concurrent invocation's attempt at an
        earlier round never hides a later one."""
        item = {
            **self.key(uid, destination, OWED_PREFIX),
            "reopened": {"N": str(reopened)},
            "expiration": {"N": str(int(time.time()) + SENT_DAYS * 86400)},
        }
        self._put_forward(item, reopened)

    def owed(self, uid: str, marks: Mapping[str, str], destinations: Iterable[str]) -> list[str]:
        """The destinations whose last failed delivery is of a later round than the last
        one recorded as sent (`marks`, as `marks` returns them).

        Our write-back moves a finding to In Progress once any destination took it, so the
        retry of the event after a DeadLetterError, or the replay of a dead-lettered
        delivery, finds it no longer New: these are the destinations it still owes.
        Compared per destination, the others' rounds do not matter: a destination added to
        the route later, or one that missed a round, is not owed anything by a copy of an
        event it was sent."""
        owed = []
        for destination in destinations:
            reply = self.client.get_item(
                TableName=self.table,
                Key=self.key(uid, destination, OWED_PREFIX),
                ConsistentRead=True,
            )
            item = reply.get("Item")
            if not item:
                continue
            sent = reopenings_notified(marks, destination) if marks.get(marker(destination)) else -1
            if _round(item.get("reopened")) > sent:
                owed.append(destination)
        return owed

    def record(self, uid: str, destination: str, reference: str, reopened: int = 0) -> bool:
        """Record a delivery; False when the record already holds this reopening or a
        later one (nothing is changed then)."""
        now = int(time.time())
        item = {
            **self.key(uid, destination),
            "reference": {"S": reference[:1024] or "sent"},
            "reopened": {"N": str(reopened)},
            "sentAt": {"N": str(now)},
            "expiration": {"N": str(now + SENT_DAYS * 86400)},
        }
        return self._put_forward(item, reopened)


def _value(attribute: Any) -> str:
    """A string or number attribute's text; "" for any other (a record edited by hand)."""
    if isinstance(attribute, dict):
        for kind in ("S", "N"):
            if isinstance(attribute.get(kind), str):
                return str(attribute[kind])
    return ""


def _round(attribute: Any) -> int:
    """A record's round (a reopening count): a number's integer part up to MAX_ROUND, and
    0 for anything else (edited by hand), which is what the forward-only put overwrites."""
    text = attribute.get("N") if isinstance(attribute, dict) else None
    try:
        value = math.floor(Decimal(text)) if isinstance(text, str) else 0
    except (ArithmeticError, ValueError):
        return 0
    return value if 0 <= value <= MAX_ROUND else 0
