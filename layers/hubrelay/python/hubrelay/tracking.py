"""Change tracking and the finding lifecycle (a DynamoDB table).

Security Hub bills every import and every update (the partner FAQ), so a finding is sent only
when it is new, changed, resolved, due for renewal before the 90-day age-off, or owed to
a Region it has not reached yet. Per finding the table keeps the hash of its content
(timestamps excluded), CreatedAt, the last UpdatedAt sent, the Regions it went to, when
it was last sent, its generation and state, and where the last complete finding sent is
(an S3 object, hubrelay.bodies; in the row itself, zlib, for rows of earlier releases and
stores without S3), so that an archive or a renewal can be sent complete even when the
source no longer reports the finding. `Store.resolve` reads the bodies that are needed.

`plan` is pure: it says what to send and what to remember afterwards. The collector
writes the remembered state only after the messages are enqueued, so a crash in between
costs a harmless re-send, never a lost update.

Table layout: partition key `pk`, sort key `sk`.
- findings: pk "t#<scope>", sk a bucket's lower bound: the findings of a scope packed
  about 16 to a 1 KB item (hubrelay.packed). Rows of earlier releases, pk "f#<scope>",
  sk "<base Id>", are read until `migrate` has moved them.
- renewal marker: pk "renewal", sk "<scope>", in the sparse index `renewal` (`due` "scope",
  `ls` at most the oldest last send of the scope's active findings): the renewal sweep
  finds due scopes there and reads their rows. One index entry per scope, not per finding
  (an index entry is one more write unit per finding saved: "Write considerations for
  Global Secondary Indexes", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html).
  Finding rows of earlier releases are in the index themselves (`due` "active") until
  they are saved again.
  A row the importer marked undelivered (`hubrelay.delivery`) is in the sparse index
  `retry` (`ur`, `nr`) until the collector re-sends it (`resend`) and saves it anew.
- cursor:   pk "cursor", sk "<source name>", `v` the cursor as JSON.
- backoff:  pk "b#<account>", sk "<Region>": delivery backoff, written by the importer.

Sources: "the partner FAQ" is "AWS Security Hub partner FAQ"
(https://docs.aws.amazon.com/securityhub/latest/partnerguide/partner-faq.html); "the
integrations page" is "Available AWS service integrations"
(https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-internal-providers.html).
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from botocore.exceptions import ClientError

from hubrelay import asff, delivery, packed
from hubrelay.bodies import BodyStore
from hubrelay.errors import TransientError
from hubrelay.retry import Retry
from hubrelay.sources import Context, Cursor, Finding, dig, parse_time, stable_json
from hubrelay.tracked import AGE_OFF_DAYS as AGE_OFF_DAYS
from hubrelay.tracked import EXPIRY_DAYS as EXPIRY_DAYS
from hubrelay.tracked import Tracked as Tracked

# Timestamps change on every scan without the finding changing; Id and ProductArn are set
# per generation and per Region by this module.
VOLATILE_FIELDS = frozenset(
    {"Id", "ProductArn", "CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"}
    | {"ProcessedAt", "RecordState"}
)
# Tool versions the mappers record in ProductFields: shown, but no change of the finding.
VOLATILE_PRODUCT_FIELDS = frozenset({"sarif/toolVersion", "grype/scanner", "trivy/version"})
GLOBAL_RESOURCE_PREFIXES = ("AwsIam", "AwsAccount")
SEVERITY_RANK = {label: rank for rank, label in enumerate(asff.SEVERITY_LABELS)}
RENEWAL_INDEX = "renewal"
# One renewal marker per scope (pk MARKER, sk the scope) is what the renewal index holds:
# `due` DUE_SCOPE and `ls` at most the oldest last send of the scope's active findings.
# Rows of earlier releases are in the index themselves (`due` "active") until saved again.
MARKER = "renewal"
LAYOUT = "tracking-layout"  # the cursor row `migrate` keeps (hubrelay.packed)
DUE_SCOPE = "scope"
MAX_BODY_BYTES = 350_000  # DynamoDB items stop at 400 KB
PRIVATE_DEFAULT = "private-default"  # the `p` attribute of state sent under the default product


@dataclass(frozen=True)
class Policy:
    renewal_mode: str = "new-generation"  # or "refresh"
    renewal_days: int = 80
    severity_floor: str = "INFORMATIONAL"
    cvss_floor: float = 0.0


@dataclass
class Plan:
    """Findings to enqueue (one per Region) and the state to save once they are enqueued."""

    action: str  # new, changed, reopened, unchanged, renewed, regenerated, archived, dropped
    sends: list[Finding]
    state: Tracked | None


def content_hash(finding: Mapping[str, Any]) -> int:
    """A hash of what a customer sees change: not timestamps, not the scanner's version
    (every scanner release would otherwise re-import the whole inventory, billed)."""
    stable = {k: v for k, v in finding.items() if k not in VOLATILE_FIELDS}
    fields = stable.get("ProductFields")
    if isinstance(fields, Mapping):
        stable["ProductFields"] = {
            k: v for k, v in fields.items() if k not in VOLATILE_PRODUCT_FIELDS
        }
    # The first 64 bits, what change tracking keeps (hubrelay.packed, as 16 hex digits),
    # as an int: a run holds one per finding until it saves them (36 bytes, 65 as text).
    digest = hashlib.sha256(stable_json(stable).encode()).digest()
    return int.from_bytes(digest[: packed.CONTENT_HASH_BYTES])


def generation_id(base_id: str, generation: int) -> str:
    return base_id if generation == 0 else f"{base_id[:500]}/g{generation}"


def target_regions(finding: Mapping[str, Any], ctx: Context) -> tuple[str, ...]:
    """Regions a finding belongs in (the partner FAQ: global resources go to every Region).

    A global resource (IAM, the account) sends the finding to every configured Region; a
    regional resource to its Region, or to the home Region when that Region is not
    configured (Security Hub may not run there); a resource without a Region to home.
    """
    resources = [r for r in finding.get("Resources", []) if isinstance(r, Mapping)]
    if any(str(r.get("Type", "")).startswith(GLOBAL_RESOURCE_PREFIXES) for r in resources):
        return ctx.regions
    wanted = {r["Region"] if r.get("Region") in ctx.regions else ctx.home for r in resources}
    return tuple(r for r in ctx.regions if r in wanted) or (ctx.home,)


def below_floor(finding: Mapping[str, Any], policy: Policy) -> bool:
    """Whether the finding is under the policy's floors: the partner FAQ advises sending no
    findings without value (e.g. vulnerabilities under CVSS 3)."""
    severity = dig(finding, "FindingProviderFields", "Severity") or finding.get("Severity")
    label = severity.get("Label") if isinstance(severity, Mapping) else None
    if label in SEVERITY_RANK and SEVERITY_RANK[label] < SEVERITY_RANK[policy.severity_floor]:
        return True
    scores: list[float] = [
        cvss["BaseScore"]
        for vulnerability in finding.get("Vulnerabilities", []) or []
        if isinstance(vulnerability, Mapping)
        for cvss in vulnerability.get("Cvss", []) or []
        if isinstance(cvss, Mapping) and isinstance(cvss.get("BaseScore"), int | float)
    ]
    return bool(scores) and max(scores) < policy.cvss_floor


def plan(
    finding: Finding, scope: str, tracked: Tracked | None, ctx: Context, policy: Policy
) -> Plan:
    """What to do with a finding the source reports now (its Id is the base Id)."""
    if finding.get("RecordState") == "ARCHIVED" or below_floor(finding, policy):
        if tracked is None or tracked.state == "ARCHIVED":
            return Plan("dropped", [], None)
        return archive(tracked, ctx, latest=finding)
    now = ctx.timestamp()
    report = _Report(finding, scope, content_hash(finding), target_regions(finding, ctx), ctx)
    if tracked is None:
        # The source's own creation time is kept (the integrations page: a Health finding's
        # CreatedAt is the event's start); only a missing or future one is replaced by now.
        return report.send("new", _source_created(finding, now), now, 0)
    if tracked.state == "ARCHIVED":
        updated = _advance(tracked.updated_at, ctx)
        return report.send("reopened", tracked.created_at, updated, tracked.generation)
    if tracked.product_in(ctx) != ctx.product_arn:
        return _rehome(report, tracked, ctx)
    due = ctx.epoch() - tracked.last_sent >= policy.renewal_days * 86_400
    # Both are 64 bits however they were stored (packed.hash_of_digits).
    changed = report.digest != tracked.hash
    changed = changed or not set(report.targets) <= tracked.regions
    if not changed and not due:
        if set(report.targets) < tracked.regions:
            return _withdraw(report, tracked, ctx)
        return Plan("unchanged", [], None)
    if due and policy.renewal_mode == "new-generation":
        # The partner FAQ: "create new findings every 90 days and do not update findings
        # forever".
        old = archive(tracked, ctx)
        new = report.send("regenerated", now, now, tracked.generation + 1)
        return Plan("regenerated", old.sends + new.sends, new.state)
    # Regions the finding no longer belongs to get it archived, not left behind active.
    leaving = tuple(sorted(tracked.regions - set(report.targets)))
    action = "changed" if changed else "renewed"
    updated = _advance(tracked.updated_at, ctx)
    return report.send(action, tracked.created_at, updated, tracked.generation, leaving)


def needs_body(tracked: Tracked, finding: Finding, ctx: Context, policy: Policy) -> bool:
    """Whether `plan` sends the stored body (an archive of what was sent before): after a
    change of product, or at a renewal as a new generation. Every other path sends the
    finding as reported, or archives from it (a withdrawal)."""
    if tracked.state == "ARCHIVED" or finding.get("RecordState") == "ARCHIVED":
        return False
    if below_floor(finding, policy):
        return False
    if tracked.product_in(ctx) != ctx.product_arn:
        return True
    due = ctx.epoch() - tracked.last_sent >= policy.renewal_days * 86_400
    return due and policy.renewal_mode == "new-generation"


def archive(tracked: Tracked, ctx: Context, latest: Finding | None = None) -> Plan:
    """Send the finding once more as ARCHIVED to every Region it was sent to (the partner
    FAQ)."""
    body = latest if latest is not None else tracked.body
    if body is None:
        return Plan("dropped", [], replace(tracked, state="ARCHIVED"))
    updated = _advance(tracked.updated_at, ctx)
    archived = _stamp(body, tracked.created_at, updated, "ARCHIVED")
    finding_id = generation_id(tracked.key, tracked.generation)
    product = tracked.product_in(ctx)
    sends = [
        _in_region(archived, finding_id, region, ctx, product) for region in sorted(tracked.regions)
    ]
    state = replace(
        tracked,
        updated_at=updated,
        last_sent=ctx.epoch(),
        state="ARCHIVED",
        body=archived,
    )
    return Plan("archived", sends, state)


@lru_cache(maxsize=64)
def _regions(targets: tuple[str, ...]) -> frozenset[str]:
    """One frozenset per set of target Regions: a run's states share a few (each of its
    own was 216 bytes, for every finding of a scan)."""
    return frozenset(targets)


@dataclass(frozen=True)
class _Report:
    """A finding as the source reports it now, with what every send of it shares."""

    finding: Finding
    scope: str
    digest: int
    targets: tuple[str, ...]
    ctx: Context

    def send(
        self,
        action: str,
        created: str,
        updated: str,
        generation: int,
        leaving: Sequence[str] = (),
    ) -> Plan:
        """The finding active in its target Regions (archived in `leaving`) as generation
        `generation`, and the state to remember once it is enqueued."""
        active = _stamp(self.finding, created, updated, "ACTIVE")
        finding_id = generation_id(str(self.finding["Id"]), generation)
        sends = [_in_region(active, finding_id, region, self.ctx) for region in self.targets]
        if leaving:
            archived = _stamp(self.finding, created, updated, "ARCHIVED")
            sends += [_in_region(archived, finding_id, region, self.ctx) for region in leaving]
        state = Tracked(
            scope=self.scope,
            key=str(self.finding["Id"]),
            hash=self.digest,
            created_at=created,
            updated_at=updated,
            regions=_regions(self.targets),
            last_sent=self.ctx.epoch(),
            generation=generation,
            state="ACTIVE",
            body=active,
            product=self.ctx.product_arn,
        )
        return Plan(action, sends, state)


def _rehome(report: _Report, tracked: Tracked, ctx: Context) -> Plan:
    """The configured product ARN changed (say, from the private default to the partner
    ARN): archived under the old product in every Region it was sent to, sent anew under the
    new one. A ProductArn is part of a finding's identity, so the old finding would stay
    active until age-off otherwise."""
    old = archive(tracked, ctx)
    created = tracked.created_at
    new = report.send("rehomed", created, ctx.timestamp(), tracked.generation)
    return Plan("rehomed", old.sends + new.sends, new.state)


def _withdraw(report: _Report, tracked: Tracked, ctx: Context) -> Plan:
    """Unchanged, but some of its Regions are no longer configured (or no longer its own):
    archived there, and nothing sent where it still is."""
    leaving = sorted(tracked.regions - set(report.targets))
    updated = _advance(tracked.updated_at, ctx)
    body = tracked.body if tracked.body is not None else report.finding
    archived = _stamp(body, tracked.created_at, updated, "ARCHIVED")
    finding_id = generation_id(tracked.key, tracked.generation)
    product = tracked.product_in(ctx)
    sends = [_in_region(archived, finding_id, region, ctx, product) for region in leaving]
    state = replace(tracked, regions=frozenset(report.targets), updated_at=updated)
    return Plan("withdrawn", sends, state)


def resend(tracked: Tracked, ctx: Context) -> Plan:
    """The last send again, from the stored body, to the Regions it did not reach: with a
    new UpdatedAt (Security Hub keeps the newest), active where the finding is active,
    archived where it was archived or withdrawn."""
    regions = sorted(tracked.undelivered)
    if tracked.body is None or not regions:
        # Nothing to send it from: the save clears the mark, so the sweep stops finding it.
        return Plan("dropped", [], replace(tracked, undelivered=frozenset()))
    updated = _advance(tracked.updated_at, ctx)
    exact = [s for s in map(delivery.parse_send, tracked.undelivered_sends) if s is not None]
    if exact:
        # What was lost, as it was sent: an archive under an old product or an old
        # generation's Id included (the row itself knows only the current send).
        sends = [
            {
                **_stamp(tracked.body, tracked.created_at, updated, state),
                "ProductArn": product,
                "Id": finding_id,
            }
            for product, finding_id, state in sorted(exact)
        ]
    else:
        finding_id = generation_id(tracked.key, tracked.generation)
        product = tracked.product_in(ctx)
        sends = []
        for region in regions:
            active = tracked.state == "ACTIVE" and region in tracked.regions
            state = "ACTIVE" if active else "ARCHIVED"
            body = _stamp(tracked.body, tracked.created_at, updated, state)
            sends.append(_in_region(body, finding_id, region, ctx, product))
    body = _stamp(tracked.body, tracked.created_at, updated, tracked.state)
    state_after = replace(
        tracked,
        updated_at=updated,
        body=body,
        undelivered=frozenset(),
        undelivered_sends=frozenset(),
    )
    return Plan("resent", sends, state_after)


def _source_created(finding: Mapping[str, Any], now: str) -> str:
    created = finding.get("CreatedAt")
    if not isinstance(created, str) or not asff.TIMESTAMP_RE.fullmatch(created):
        return now
    try:
        return created if datetime.fromisoformat(created) <= datetime.fromisoformat(now) else now
    except ValueError:
        return now


def _stamp(finding: Mapping[str, Any], created: str, updated: str, state: str) -> Finding:
    return {**finding, "CreatedAt": created, "UpdatedAt": updated, "RecordState": state}


def _in_region(
    finding: Finding, finding_id: str, region: str, ctx: Context, product: str | None = None
) -> Finding:
    configured = ctx.product_arn if product is None else product
    arn = asff.product_arn_for(region, ctx.account_id, configured)
    return {**finding, "Id": finding_id, "ProductArn": arn}


def _advance(previous: str, ctx: Context) -> str:
    """Now, but always later than the UpdatedAt sent before (Security Hub requires it)."""
    later = parse_time(previous) + timedelta(milliseconds=1)
    return asff.timestamp(max(ctx.now, later))


# --- DynamoDB --------------------------------------------------------------------------


class TrackingError(TransientError):
    """DynamoDB left items unprocessed through every attempt the retry allowed."""


class Store:
    """The tracking table through a boto3 DynamoDB client: findings packed many to an item
    (hubrelay.packed), rows of earlier releases read until `migrate` has moved them."""

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        retry: Retry | None = None,
        bodies: BodyStore | None = None,
        defer: bool = False,
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        # For the items a batch call leaves unprocessed, which botocore does not retry.
        self.retry = Retry(max_attempts=8, base_s=0.05, cap_s=2.0) if retry is None else retry
        # Bodies in S3 (hubrelay.bodies); without a bucket, in items of their own.
        self.bodies: BodyStore | RowBodies = bodies or RowBodies(dynamodb, table, self.retry)
        self.packed = packed.Buckets(dynamodb, table, item_size)
        # With `defer`, saved states are written at `flush` (the collector's: before a
        # cursor moves and at the end of a run), a scope's chunks in one write of each bucket.
        self.defer = defer
        self._pending: dict[str, dict[str, Tracked]] = {}
        self._legacy: bool | None = None  # whether rows of earlier releases may be left
        # Undelivered marks read by `undelivered`, by (scope, key) (hubrelay.delivery).
        self._marks: dict[tuple[str, str], delivery.Mark] = {}
        # Bodies read by `resolve`, by (scope, key): a state saved with the same body object
        # keeps its reference instead of writing the body again.
        self._resolved: dict[tuple[str, str], Finding] = {}

    def cursor(self, source: str) -> Cursor:
        item = self.dynamodb.get_item(
            TableName=self.table,
            Key={"pk": {"S": "cursor"}, "sk": {"S": source}},
            ConsistentRead=True,
        ).get("Item")
        return dict(json.loads(item["v"]["S"])) if item else {}

    def commit(self, source: str, cursor: Cursor) -> None:
        self.flush()  # the state of what was sent before the cursor moves past it
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": "cursor"},
                "sk": {"S": source},
                "v": {"S": json.dumps(cursor, sort_keys=True)},
                "t": {"N": str(int(time.time()))},
            },
        )

    def legacy(self) -> bool:
        """Whether rows of an earlier release may still be in the table."""
        if self._legacy is None:
            self._legacy = not self.cursor(LAYOUT).get("packed")
        return self._legacy

    def load(self, scope: str, keys: Iterable[str]) -> dict[str, Tracked]:
        keys = list(dict.fromkeys(keys))
        pending = self._pending.get(scope, {})
        found = {k: pending[k] for k in keys if k in pending}
        found |= self.packed.find(scope, [k for k in keys if k not in found])
        if self.legacy():
            found |= _legacy_rows(self, scope, [k for k in keys if k not in found])
        return _with_marks(self, scope, keys, found)

    def load_scope(self, scope: str) -> dict[str, Tracked]:
        rows = _legacy_scope(self, scope) if self.legacy() else {}
        return rows | self.packed.scope(scope) | self._pending.get(scope, {})

    def due(self, last_sent_before: float, limit: int) -> list[tuple[str, str]]:
        """(scope, key) of active findings last sent before the given time: rows of
        earlier releases in the renewal index, then the findings of each scope whose
        marker is due, oldest first. A due marker with nothing due any more moves up to
        the scope's oldest last send (or goes, with no active finding left)."""
        found = [
            (item["pk"]["S"][2:], item["sk"]["S"])
            for item in _due_entries(self, "active", last_sent_before, limit)
        ]
        for marker in _due_entries(self, DUE_SCOPE, last_sent_before, limit):
            if len(found) >= limit:
                break
            found += _due_in_scope(self, marker["sk"]["S"], last_sent_before, limit - len(found))
        return list(dict.fromkeys(found))[:limit]

    def undelivered(self, now: float, limit: int) -> list[tuple[str, str]]:
        """(scope, key) of findings marked undelivered whose next retry has come, soonest
        first (the sparse index `retry`, hubrelay.delivery); the marks are read and kept
        for `load`, which gives them to the states whose send they name."""
        return _undelivered(self, now, limit)

    def active_page(
        self, start: Mapping[str, Any] | None, limit: int
    ) -> tuple[list[Tracked], dict[str, Any] | None]:
        """One page of a scan over the tracked findings (`limit` items), the active ones,
        and where the next page starts (None after the last). For the placement sweep
        after a settings change, which has to visit every active finding whatever its
        scope (after `migrate`: rows of earlier releases are not in it)."""
        self.flush()
        found, after = self.packed.page(start, limit)
        return [t for t in found if t.state == "ACTIVE"], after

    def resolve(self, states: Iterable[Tracked]) -> list[Tracked]:
        """The states with their bodies read from S3 where the row names an object; a body
        no longer there stays None (logged by hubrelay.bodies)."""
        resolved = []
        for state in states:
            if state.body is None and state.body_ref:
                body = self.bodies.get(state.body_ref, state.scope, state.key)
                if body is not None:
                    self._resolved[(state.scope, state.key)] = body
                    state = replace(state, body=body)
            resolved.append(state)
        return resolved

    def save(self, states: Iterable[Tracked]) -> None:
        kept = self._with_refs(list(states))
        _lower_markers(self, kept)
        for state in kept:
            self._pending.setdefault(state.scope, {})[state.key] = state
        if not self.defer:
            self.flush()

    def flush(self) -> None:
        """Write the saved states, a scope at a time, after the object holding their new
        bodies; then their marks are done with."""
        self.bodies.flush()
        while self._pending:
            scope, states = next(iter(self._pending.items()))
            self.packed.write(scope, states.values())
            del self._pending[scope]
            for key in states:
                _clear_mark(self, scope, key)

    def _with_refs(self, states: list[Tracked]) -> list[Tracked]:
        """Every new body of these states in the object being filled (hubrelay.bodies),
        each state then naming it (and keeping no body of its own)."""
        fresh: dict[str, dict[str, Finding]] = {}
        for state in states:
            if state.body is not None and state.body is not self._resolved.get(_ref_of(state)):
                fresh.setdefault(state.scope, {})[state.key] = state.body
        ref = self.bodies.put(fresh, datetime.now(UTC)) if fresh else ""
        return [_referenced(state, ref, fresh) for state in states]


ROW_REF = "#row"  # the `o` of an entry whose body is in an item of its own (RowBodies)


class RowBodies:
    """Bodies in the table when there is no bucket: pk "x#<scope>", sk the base Id, `b`
    the body (zlib), each in an item of its own (as the rows of earlier releases held it)."""

    def __init__(self, dynamodb: Any, table: str, retry: Retry) -> None:
        self.dynamodb, self.table, self.retry = dynamodb, table, retry

    def flush(self) -> None:
        """Nothing held: `put` writes each body at once."""

    def put(self, bodies: Mapping[str, Mapping[str, Finding]], now: datetime) -> str:
        requests = []
        for scope, found in bodies.items():
            for key, body in found.items():
                packed_body = zlib.compress(json.dumps(body, separators=(",", ":")).encode())
                if len(packed_body) < MAX_BODY_BYTES:
                    item = {"pk": {"S": f"x#{scope}"}, "sk": {"S": key}, "b": {"B": packed_body}}
                    item["expires_at"] = {"N": str(int(now.timestamp()) + EXPIRY_DAYS * 86_400)}
                    requests.append({"PutRequest": {"Item": item}})
        for start in range(0, len(requests), 25):
            request = {self.table: requests[start : start + 25]}
            _batch(self.retry, self.dynamodb.batch_write_item, request, "UnprocessedItems")
        return ROW_REF

    def get(self, ref: str, scope: str, key: str) -> Finding | None:
        item = self.dynamodb.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"x#{scope}"}, "sk": {"S": key}},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else dict(json.loads(zlib.decompress(item["b"]["B"])))


def _ref_of(state: Tracked) -> tuple[str, str]:
    return (state.scope, state.key)


def _referenced(state: Tracked, ref: str, fresh: Mapping[str, Mapping[str, Finding]]) -> Tracked:
    """The state as its entry keeps it: the object's key, no body."""
    if state.body is None:
        return state
    if state.key in fresh.get(state.scope, {}):
        return replace(state, body=None, body_ref=ref)
    return replace(state, body=None)  # the body it was read with: the same object


def _to_item(state: Tracked) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": f"f#{state.scope}"},
        "sk": {"S": state.key},
        "h": {"S": packed.hash_digits(state.hash)},
        "c": {"S": state.created_at},
        "u": {"S": state.updated_at},
        "ls": {"N": repr(state.last_sent)},
        "g": {"N": str(state.generation)},
        "st": {"S": state.state},
        "expires_at": {"N": str(int(state.last_sent) + EXPIRY_DAYS * 86_400)},
    }
    if state.regions:
        item["r"] = {"SS": sorted(state.regions)}
    if state.product is not None:
        item["p"] = {"S": state.product or PRIVATE_DEFAULT}
    if state.body_ref and state.body is None:
        item["bo"] = {"S": state.body_ref}
    if state.body is not None:
        body = zlib.compress(json.dumps(state.body, separators=(",", ":")).encode())
        if len(body) < MAX_BODY_BYTES:
            item["b"] = {"B": body}
    return item


# DynamoDB's size of an item, by "Item sizes and formats"
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
# each attribute's name in UTF-8 plus its value; strings in UTF-8, binary as is, numbers
# 1 byte per two significant digits plus 1, sets the sum of their elements, lists and maps
# 3 bytes plus 1 per element. Write units are started KB of it, the 400 KB limit applies to it.
def item_size(item: Mapping[str, Any]) -> int:
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(str(v).encode())
    if kind == "B":
        return len(v)
    if kind == "N":
        return _number_size(str(v))
    if kind == "SS":
        return sum(len(str(x).encode()) for x in v)
    if kind == "NS":
        return sum(_number_size(str(x)) for x in v)
    if kind == "BS":
        return sum(len(x) for x in v)
    if kind == "L":
        return 3 + sum(_value_size(x) + 1 for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(x) + 1 for k, x in v.items())
    return 1  # BOOL, NULL


def _number_size(text: str) -> int:
    mantissa = text.lower().split("e")[0].lstrip("+-").replace(".", "")
    digits = mantissa.strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def _from_item(item: Mapping[str, Any]) -> Tracked:
    body = json.loads(zlib.decompress(item["b"]["B"])) if "b" in item else None
    return Tracked(
        scope=item["pk"]["S"][2:],
        key=item["sk"]["S"],
        hash=packed.hash_of_digits(item["h"]["S"]),
        created_at=item["c"]["S"],
        updated_at=item["u"]["S"],
        regions=frozenset(item.get("r", {}).get("SS", [])),
        last_sent=float(item["ls"]["N"]),
        generation=int(item["g"]["N"]),
        state=item["st"]["S"],
        body=body,
        product=_product_of(item),
        undelivered=frozenset(item.get("ud", {}).get("SS", [])),
        undelivered_sends=frozenset(item.get("us", {}).get("SS", [])),
        body_ref=item.get("bo", {}).get("S", "") if "b" not in item else "",
    )


def _product_of(item: Mapping[str, Any]) -> str | None:
    if "p" not in item:
        return None
    value = str(item["p"]["S"])
    return "" if value == PRIVATE_DEFAULT else value


def oldest_active(states: Iterable[Tracked]) -> dict[str, float]:
    """Per scope, the oldest last send of its active findings among `states`: what the
    scope's renewal marker must not be later than."""
    oldest: dict[str, float] = {}
    for state in states:
        if state.state == "ACTIVE":
            oldest[state.scope] = min(oldest.get(state.scope, state.last_sent), state.last_sent)
    return oldest


def _undelivered(store: Store, now: float, limit: int) -> list[tuple[str, str]]:
    response = store.dynamodb.query(
        TableName=store.table,
        IndexName=delivery.RETRY_INDEX,
        KeyConditionExpression="ur = :undelivered AND nr <= :now",
        ExpressionAttributeValues={
            ":undelivered": {"S": delivery.UNDELIVERED},
            ":now": {"N": repr(now)},
        },
        Limit=limit,
    )
    found = [(item["pk"]["S"], item["sk"]["S"]) for item in response.get("Items", [])]
    # Marks of this release; rows of earlier releases (pk "f#") carry their own.
    keys = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in found if pk.startswith("u#")]
    for start in range(0, len(keys), 100):
        request = {store.table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        for response in _batch(
            store.retry, store.dynamodb.batch_get_item, request, "UnprocessedKeys"
        ):
            for item in response.get("Responses", {}).get(store.table, []):
                mark = delivery.Mark.of(item)
                store._marks[(item["pk"]["S"][2:], item["sk"]["S"])] = mark
    return list(dict.fromkeys((pk[2:], sk) for pk, sk in found))


def _with_marks(
    store: Store, scope: str, keys: Iterable[str], found: dict[str, Tracked]
) -> dict[str, Tracked]:
    """`found` with the marks `undelivered` read given to the states whose send they name;
    a mark of a finding no longer tracked is cleared now (nothing to re-send), a mark of
    another send (a newer one, or one never recorded) when the state is saved."""
    for key in keys:
        mark = store._marks.get((scope, key))
        state = found.get(key)
        if mark is None:
            continue
        if state is None:
            _clear_mark(store, scope, key)
        elif state.updated_at == mark.sent:
            found[key] = replace(
                state,
                undelivered=state.undelivered | mark.regions,
                undelivered_sends=state.undelivered_sends | mark.sends,
            )
    return found


def _clear_mark(store: Store, scope: str, key: str) -> None:
    if (mark := store._marks.pop((scope, key), None)) is not None:
        delivery.clear_mark(store.dynamodb, store.table, scope, key, mark.sent)


def _due_entries(store: Store, due: str, before: float, limit: int) -> list[dict[str, Any]]:
    response = store.dynamodb.query(
        TableName=store.table,
        IndexName=RENEWAL_INDEX,
        KeyConditionExpression="#due = :due AND ls < :before",
        ExpressionAttributeNames={"#due": "due"},
        ExpressionAttributeValues={":due": {"S": due}, ":before": {"N": repr(before)}},
        Limit=limit,
    )
    return list(response.get("Items", []))


def _due_in_scope(store: Store, scope: str, before: float, limit: int) -> list[tuple[str, str]]:
    active = [t for t in store.load_scope(scope).values() if t.state == "ACTIVE"]
    due = sorted((t for t in active if t.last_sent < before), key=lambda t: t.last_sent)
    if not due:
        _set_marker(store, scope, min((t.last_sent for t in active), default=None))
    return [(scope, t.key) for t in due[:limit]]


def _set_marker(store: Store, scope: str, oldest: float | None) -> None:
    key = {"pk": {"S": MARKER}, "sk": {"S": scope}}
    if oldest is None:
        request = {store.table: [{"DeleteRequest": {"Key": key}}]}
    else:
        item = {**key, "due": {"S": DUE_SCOPE}, "ls": {"N": repr(oldest)}}
        request = {store.table: [{"PutRequest": {"Item": item}}]}
    _batch(store.retry, store.dynamodb.batch_write_item, request, "UnprocessedItems")


def _lower_markers(store: Store, states: list[Tracked]) -> None:
    """Before the rows are written (a crash in between leaves a marker early, never
    late): each scope's marker lowered to its saved active findings' oldest last send,
    by a conditional put that writes only when that is lower (or there is none)."""
    for scope, last_sent in oldest_active(states).items():
        try:
            store.dynamodb.put_item(
                TableName=store.table,
                Item={
                    "pk": {"S": MARKER},
                    "sk": {"S": scope},
                    "due": {"S": DUE_SCOPE},
                    "ls": {"N": repr(last_sent)},
                },
                ConditionExpression="attribute_not_exists(ls) OR ls > :ls",
                ExpressionAttributeValues={":ls": {"N": repr(last_sent)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise


def _batch(
    retry: Retry, call: Callable[..., Any], request: Mapping[str, Any], leftover: str
) -> list[Mapping[str, Any]]:
    """Every response of a batch call, made again (after a backoff) with what the last
    response left unprocessed under `leftover`, until nothing is left."""
    responses: list[Mapping[str, Any]] = []
    attempt = 1
    while True:
        response = call(RequestItems=request)
        responses.append(response)
        request = response.get(leftover) or {}
        if not request:
            return responses
        if not retry.pause(attempt):
            raise TrackingError(f"DynamoDB kept items unprocessed after {attempt} attempts")
        attempt += 1


# --- rows of earlier releases: read until moved, then moved (`migrate`) -----------------


def _legacy_rows(store: Store, scope: str, keys: list[str]) -> dict[str, Tracked]:
    found: dict[str, Tracked] = {}
    pending = [{"pk": {"S": f"f#{scope}"}, "sk": {"S": k}} for k in keys]
    for start in range(0, len(pending), 100):
        request = {store.table: {"Keys": pending[start : start + 100], "ConsistentRead": True}}
        for response in _batch(
            store.retry, store.dynamodb.batch_get_item, request, "UnprocessedKeys"
        ):
            for item in response.get("Responses", {}).get(store.table, []):
                tracked = _from_item(item)
                found[tracked.key] = tracked
    return found


def _legacy_scope(store: Store, scope: str) -> dict[str, Tracked]:
    found: dict[str, Tracked] = {}
    for page in store.dynamodb.get_paginator("query").paginate(
        TableName=store.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"f#{scope}"}},
        ConsistentRead=True,
    ):
        for item in page.get("Items", []):
            tracked = _from_item(item)
            found[tracked.key] = tracked
    return found


MIGRATE_PAGE = 200


def migrate(store: Store, time_left: Callable[[], bool]) -> None:
    """Move the finding rows of earlier releases into the packed layout (hubrelay.packed),
    a Scan page at a time, resumed by the next run when this one's time is up. A row's
    finding already in a bucket (saved since the upgrade) keeps the bucket's state; a
    row's body goes to S3 and its undelivered mark into a mark item (hubrelay.delivery);
    then the rows are deleted. Nothing is sent: each finding keeps the state it had."""
    if not store.legacy():
        return
    start = store.cursor(LAYOUT).get("start")
    while time_left():
        args: dict[str, Any] = {
            "TableName": store.table,
            "FilterExpression": "begins_with(pk, :finding)",
            "ExpressionAttributeValues": {":finding": {"S": "f#"}},
            "ConsistentRead": True,
            "Limit": MIGRATE_PAGE,
        }
        if start:
            args["ExclusiveStartKey"] = start
        response = store.dynamodb.scan(**args)
        _adopt(store, response.get("Items", []))
        start = response.get("LastEvaluatedKey")
        if start is None:
            store.commit(LAYOUT, {"packed": True})
            store._legacy = False
            return
        store.commit(LAYOUT, {"start": start})


def _adopt(store: Store, items: list[dict[str, Any]]) -> None:
    by_scope: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_scope.setdefault(item["pk"]["S"][2:], []).append(item)
    for scope, rows in by_scope.items():
        states = {t.key: t for t in map(_from_item, rows)}
        current = store.packed.find(scope, list(states))
        store.save([t for key, t in states.items() if key not in current])
        store.flush()
        for item in rows:
            if "ur" in item:
                _carry_mark(store, scope, item)
        deletes = [{"DeleteRequest": {"Key": {"pk": i["pk"], "sk": i["sk"]}}} for i in rows]
        for start in range(0, len(deletes), 25):
            request = {store.table: deletes[start : start + 25]}
            _batch(store.retry, store.dynamodb.batch_write_item, request, "UnprocessedItems")


def _carry_mark(store: Store, scope: str, row: Mapping[str, Any]) -> None:
    """A row's undelivered mark as a mark item, unless the importer made one since."""
    mark = {k: row[k] for k in ("ur", "nr", "ud", "us", "uc", "u") if k in row}
    expires = int(float(row["nr"]["N"])) + delivery.MARK_DAYS * 86_400
    try:
        store.dynamodb.put_item(
            TableName=store.table,
            Item={
                **delivery.mark_key(scope, row["sk"]["S"]),
                **mark,
                "expires_at": {"N": str(expires)},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
