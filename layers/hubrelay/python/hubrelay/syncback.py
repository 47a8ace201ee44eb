"""Status synced back: a destination reports its ticket or alert closed, hubrelay resolves
the finding in the Security Hub it came from.

A closure comes from the webhook receivers' callback (`hubrelay.callback`) or from the
vendor's back-sync API (`poll_vendor`, docs/vendor-mapping.md). It names one finding,
either a Security Hub CSPM finding (`productArn` and `findingId`) or a finding of the new
Security Hub (`metadataUid`), and the ticket (`reference`) that was closed.

Each finding is resolved from its *current* state, read first (GetFindings /
GetFindingsV2), never from what the destination believes: a finding someone suppressed or
resolved since keeps its status and is reported `unchanged`.

- CSPM: BatchUpdateFindings with Workflow.Status RESOLVED, `UserDefinedFields
  ["hubrelay:closed"]` = the reference, and a Note saying who closed what, unless the
  finding carries someone else's Note: an analyst's note is never replaced (as the
  write-back does for NOTIFIED, `hubrelay.writeback`); the closure is in UserDefinedFields
  then ("BatchUpdateFindings",
  https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchUpdateFindings.html).
- The new Security Hub: `writeback_v2.set_status(..., RESOLVED, comment)`, which replaces
  only hubrelay's part of the comment and keeps everyone else's text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from botocore.exceptions import ClientError

from hubrelay import asff, writeback, writeback_v2
from hubrelay.asff import FindingKey
from hubrelay.http import HttpError
from hubrelay.retry import Retry

CLOSED_FIELD = "hubrelay:closed"
MAX_REFERENCE = 256
MAX_TEXT = 256
MAX_CLOSURES = 20  # per callback request or vendor page entry batch, as GetFindings filters
SETTLED_CSPM = frozenset({"RESOLVED", "SUPPRESSED"})
_UID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,512}")
_PRODUCT_ARN = re.compile(r"arn:aws[a-z-]*:securityhub:[a-z0-9-]+:\d{0,12}:product/\S{1,400}")


class ClosureError(ValueError):
    """A closure that cannot be read: the message names which one and why."""


@dataclass(frozen=True)
class Closure:
    """One closed ticket or alert and the finding it was opened for."""

    reference: str
    source: str  # "callback" or "vendor"
    key: FindingKey | None = None  # a CSPM finding: (ProductArn, Id)
    uid: str | None = None  # a finding of the new Security Hub: metadata.uid
    text: str = ""  # the destination's own words (a resolution), optional

    @property
    def name(self) -> str:
        if self.key:
            return f"CSPM finding {self.key[1]!r}"
        return f"new Security Hub finding {self.uid!r}"

    def note(self) -> str:
        said = f": {self.text}" if self.text else ""
        return asff.truncate(
            f"hubrelay resolved this finding: {self.source} reported {self.reference} closed{said}",
            writeback.NOTE_MAX,
        )


def parse_closure(document: Any, source: str, where: str) -> Closure:
    """A closure from its JSON object; ClosureError naming `where` and the reason."""
    if not isinstance(document, Mapping):
        raise ClosureError(f"{where}: not a JSON object")
    reference = document.get("reference")
    if not isinstance(reference, str) or not reference.strip():
        raise ClosureError(f"{where}: 'reference' (the closed ticket) is missing or empty")
    if len(reference) > MAX_REFERENCE:
        raise ClosureError(f"{where}: 'reference' is over {MAX_REFERENCE} characters")
    text = document.get("note", "")
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise ClosureError(f"{where}: 'note' is not a string of at most {MAX_TEXT} characters")
    uid, arn, fid = (document.get(k) for k in ("metadataUid", "productArn", "findingId"))
    if uid is not None and (arn is not None or fid is not None):
        raise ClosureError(f"{where}: name 'metadataUid' or 'productArn' and 'findingId'")
    if uid is not None:
        if not isinstance(uid, str) or not _UID.fullmatch(uid):
            raise ClosureError(f"{where}: 'metadataUid' is not a finding's metadata.uid")
        return Closure(reference.strip(), source, uid=uid, text=text.strip())
    if not isinstance(arn, str) or not _PRODUCT_ARN.fullmatch(arn):
        raise ClosureError(f"{where}: 'productArn' is missing or not a product ARN")
    if not isinstance(fid, str) or not 1 <= len(fid) <= 512:
        raise ClosureError(f"{where}: 'findingId' is missing or not 1-512 characters")
    return Closure(reference.strip(), source, key=(arn, fid), text=text.strip())


@dataclass
class Outcome:
    """What became of each closure, by its name."""

    resolved_cspm: list[str] = field(default_factory=list)
    resolved_v2: list[str] = field(default_factory=list)
    unchanged: dict[str, str] = field(default_factory=dict)  # name -> why
    not_found: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        return {
            "resolved": self.resolved_cspm + self.resolved_v2,
            "unchanged": self.unchanged,
            "notFound": self.not_found,
            "failed": self.failed,
        }

    def add(self, other: Outcome) -> None:
        self.resolved_cspm += other.resolved_cspm
        self.resolved_v2 += other.resolved_v2
        self.unchanged.update(other.unchanged)
        self.not_found.update(other.not_found)
        self.failed.update(other.failed)


def resolve(client: Any, closures: Iterable[Closure], retry: Retry | None = None) -> Outcome:
    """Resolve every closure's finding that is not settled yet; ClientError and
    BotoCoreError (reading the current state) are the caller's to retry."""
    closures = list(closures)
    outcome = Outcome()
    _resolve_cspm(client, [c for c in closures if c.key], outcome, retry)
    _resolve_v2(client, [c for c in closures if c.uid], outcome, retry)
    return outcome


def _resolve_cspm(
    client: Any, closures: list[Closure], outcome: Outcome, retry: Retry | None
) -> None:
    if not closures:
        return
    current = writeback.read_current(client, [c.key for c in closures if c.key], retry)
    for closure in closures:
        assert closure.key is not None
        state = current.get(closure.key)
        if state is None:
            outcome.not_found[closure.name] = "Security Hub CSPM has no such finding (GetFindings)"
            continue
        if state.workflow_status in SETTLED_CSPM:
            outcome.unchanged[closure.name] = f"Workflow.Status is {state.workflow_status}: kept"
            continue
        body: dict[str, Any] = {
            "Workflow": {"Status": "RESOLVED"},
            "UserDefinedFields": {CLOSED_FIELD: closure.reference[:1024]},
        }
        if not state.analyst_note:
            body["Note"] = {"Text": closure.note(), "UpdatedBy": writeback.UPDATED_BY}
        identifier = {"ProductArn": closure.key[0], "Id": closure.key[1]}
        result = writeback.apply(client, [writeback.Update([identifier], body)], retry)
        if result.unprocessed:
            outcome.failed[closure.name] = _why(result.unprocessed[0])
        else:
            outcome.resolved_cspm.append(closure.name)


def _resolve_v2(
    client: Any, closures: list[Closure], outcome: Outcome, retry: Retry | None
) -> None:
    if not closures:
        return
    current = writeback_v2.read_current(client, [c.uid for c in closures if c.uid], retry)
    for closure in closures:
        assert closure.uid is not None
        state = current.get(closure.uid)
        if state is None:
            outcome.not_found[closure.name] = (
                "the new Security Hub holds no such finding (GetFindingsV2)"
            )
            continue
        if state.status_id in writeback_v2.SETTLED:
            outcome.unchanged[closure.name] = f"status_id is {state.status_id}: kept"
            continue
        result = writeback_v2.set_status(
            client, closure.uid, writeback_v2.RESOLVED, closure.note(), retry
        )
        if result.unprocessed:
            outcome.failed[closure.name] = _why(result.unprocessed[0])
        else:
            outcome.resolved_v2.append(closure.name)


def _why(unprocessed: Mapping[str, Any]) -> str:
    return f"{unprocessed.get('ErrorCode', 'Error')}: {unprocessed.get('ErrorMessage', '')}"[:300]


# --- The vendor's back-sync API: tickets closed since a watermark -----------------------

CLOSURES_PATH = "/securityhub/closures"
PAGE_LIMIT = 100
MAX_PAGES = 50  # per run; the rest is read by the next run, from the watermark
WATERMARK_ID = "hubrelay-syncback#vendor-watermark"
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z")
EPOCH = "1970-01-01T00:00:00Z"


class VendorSyncError(Exception):
    """The vendor API cannot be read (one line, never the token)."""


@dataclass
class VendorPoll:
    """What one poll read: closures, entries refused (one line each), the newest closedAt."""

    closures: list[Closure] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    newest: str = ""
    pages: int = 0


def read_closures(http: Any, base_url: str, token: str, since: str) -> VendorPoll:
    """Every page of `GET <base>/securityhub/closures?closed_since=<since>` (inclusive: a
    closure seen twice resolves nothing the second time), following `next` (up to
    MAX_PAGES) on the same origin only, so the bearer token never goes elsewhere."""
    base = base_url.rstrip("/")
    url = f"{base}{CLOSURES_PATH}?" + urlencode({"closed_since": since, "limit": PAGE_LIMIT})
    poll = VendorPoll(newest=since)
    headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
    while url and poll.pages < MAX_PAGES:
        try:
            document = http.request("GET", url, headers=headers).json()
        except (HttpError, ValueError) as error:
            raise VendorSyncError(f"vendor closures page {poll.pages + 1}: {error}") from None
        poll.pages += 1
        entries = document.get("closures") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise VendorSyncError(f"vendor closures page {poll.pages}: no 'closures' list")
        for index, entry in enumerate(entries):
            _take(poll, entry, f"vendor closure {index} of page {poll.pages}")
        following = document.get("next")
        # Relative to the page it came from, as links are (RFC 3986, section 5).
        url = urljoin(url, following) if isinstance(following, str) and following else ""
        if url and urlsplit(url)[:2] != urlsplit(base)[:2]:
            raise VendorSyncError("vendor closures: 'next' leaves the API's origin: not followed")
    return poll


def _take(poll: VendorPoll, entry: Any, where: str) -> None:
    closed_at = entry.get("closedAt") if isinstance(entry, Mapping) else None
    if not isinstance(closed_at, str) or not _INSTANT.fullmatch(closed_at):
        poll.refused.append(f"{where}: 'closedAt' is not a UTC time like 2026-12-03T05:35:00Z")
        return
    try:
        poll.closures.append(parse_closure(entry, "vendor", where))
    except ClosureError as error:
        poll.refused.append(str(error))
        return
    poll.newest = max(poll.newest, closed_at)


class Watermark:
    """The newest closedAt already synced, one item in the idempotency table; it only
    moves forward (a conditional put), so an older run finishing late cannot roll it back."""

    def __init__(self, table: str, client: Any) -> None:
        self.table, self.client = table, client

    def read(self) -> str:
        reply = self.client.get_item(
            TableName=self.table, Key={"id": {"S": WATERMARK_ID}}, ConsistentRead=True
        )
        return str((reply.get("Item") or {}).get("since", {}).get("S", EPOCH))

    def write(self, since: str) -> None:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={"id": {"S": WATERMARK_ID}, "since": {"S": since}},
                ConditionExpression="attribute_not_exists(id) OR since < :s",
                ExpressionAttributeValues={":s": {"S": since}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise


def sync_vendor(
    http: Any,
    client: Any,
    credentials: Mapping[str, str],
    watermark: Watermark,
    retry: Retry | None = None,
) -> tuple[Outcome, VendorPoll]:
    """One run: the closures since the watermark, resolved; the watermark moved to the
    newest closedAt unless a finding could not be updated (the next run tries again)."""
    since = watermark.read()
    poll = read_closures(http, credentials["base_url"], credentials["token"], since)
    outcome = Outcome()
    for start in range(0, len(poll.closures), MAX_CLOSURES):
        outcome.add(resolve(client, poll.closures[start : start + MAX_CLOSURES], retry))
    if not outcome.failed and poll.newest > since:
        watermark.write(poll.newest)
    return outcome, poll
