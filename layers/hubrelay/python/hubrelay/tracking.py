"""Change tracking and the finding lifecycle (a DynamoDB table).

Security Hub bills every import and every update (seed 000), so a finding is sent only
when it is new, changed, resolved, due for renewal before the 90-day age-off, or owed to
a Region it has not reached yet. Per finding the table keeps the hash of its content
(timestamps excluded), CreatedAt, the last UpdatedAt sent, the Regions it went to, when
it was last sent, its generation and state, and the last complete finding sent (zlib), so
that an archive or a renewal can be sent complete even when the source no longer reports
the finding.

`plan` is pure: it says what to send and what to remember afterwards. The collector
writes the remembered state only after the messages are enqueued, so a crash in between
costs a harmless re-send, never a lost update.

Table layout: partition key `pk`, sort key `sk`.
- finding:  pk "f#<scope>", sk "<base Id>"; the sparse index `renewal` (`due`, `ls`) lists
  active findings by last-sent time for the renewal sweep.
- cursor:   pk "cursor", sk "<source name>", `v` the cursor as JSON.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from hubrelay import asff
from hubrelay.sources import Context, Cursor, Finding, dig, parse_time

# Timestamps change on every scan without the finding changing; Id and ProductArn are set
# per generation and per Region by this module.
VOLATILE_FIELDS = frozenset(
    {"Id", "ProductArn", "CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"}
    | {"ProcessedAt", "RecordState"}
)
GLOBAL_RESOURCE_PREFIXES = ("AwsIam", "AwsAccount")
SEVERITY_RANK = {label: rank for rank, label in enumerate(asff.SEVERITY_LABELS)}
AGE_OFF_DAYS = 90
# Tracking outlives the age-off a little: after it nothing of the finding remains to update.
EXPIRY_DAYS = AGE_OFF_DAYS + 10
RENEWAL_INDEX = "renewal"
MAX_BODY_BYTES = 350_000  # DynamoDB items stop at 400 KB


@dataclass(frozen=True)
class Tracked:
    scope: str
    key: str  # the finding's base Id (generation 0)
    hash: str
    created_at: str
    updated_at: str
    regions: frozenset[str]
    last_sent: float  # epoch seconds
    generation: int = 0
    state: str = "ACTIVE"
    body: Finding | None = None


@dataclass(frozen=True)
class Policy:
    renewal_mode: str = "refresh"  # or "new-generation"
    renewal_days: int = 80
    severity_floor: str = "INFORMATIONAL"
    cvss_floor: float = 0.0


@dataclass
class Plan:
    """Findings to enqueue (one per Region) and the state to save once they are enqueued."""

    action: str  # new, changed, reopened, unchanged, renewed, regenerated, archived, dropped
    sends: list[Finding]
    state: Tracked | None


def content_hash(finding: Mapping[str, Any]) -> str:
    stable = {k: v for k, v in finding.items() if k not in VOLATILE_FIELDS}
    text = json.dumps(stable, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def generation_id(base_id: str, generation: int) -> str:
    return base_id if generation == 0 else f"{base_id[:500]}/g{generation}"


def target_regions(finding: Mapping[str, Any], ctx: Context) -> tuple[str, ...]:
    """Regions a finding belongs in (seed 000: global resources go to every Region).

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
    """Seed 000: do not send findings without value (e.g. vulnerabilities under CVSS 3)."""
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
    targets = target_regions(finding, ctx)
    digest = content_hash(finding)
    if tracked is None:
        # The source's own creation time is kept (seed 003: a Health finding's CreatedAt is
        # the event's start); only a missing or future one is replaced by now.
        created = _source_created(finding, now)
        return _send("new", finding, scope, digest, targets, created, now, 0, ctx, ())
    if tracked.state == "ARCHIVED":
        updated = _advance(tracked.updated_at, ctx)
        return _send(
            "reopened",
            finding,
            scope,
            digest,
            targets,
            tracked.created_at,
            updated,
            tracked.generation,
            ctx,
            (),
        )
    due = ctx.now.timestamp() - tracked.last_sent >= policy.renewal_days * 86_400
    if digest == tracked.hash and set(targets) <= tracked.regions and not due:
        return Plan("unchanged", [], None)
    if due and policy.renewal_mode == "new-generation":
        # Seed 000: "create new findings every 90 days and do not update findings forever".
        old = archive(tracked, ctx)
        new = _send(
            "regenerated",
            finding,
            scope,
            digest,
            targets,
            now,
            now,
            tracked.generation + 1,
            ctx,
            (),
        )
        return Plan("regenerated", old.sends + new.sends, new.state)
    action = (
        "changed" if digest != tracked.hash or not set(targets) <= tracked.regions else "renewed"
    )
    # Regions the finding no longer belongs to get it archived, not left behind active.
    leaving = tuple(sorted(tracked.regions - set(targets)))
    return _send(
        action,
        finding,
        scope,
        digest,
        targets,
        tracked.created_at,
        _advance(tracked.updated_at, ctx),
        tracked.generation,
        ctx,
        leaving,
    )


def archive(tracked: Tracked, ctx: Context, latest: Finding | None = None) -> Plan:
    """Send the finding once more as ARCHIVED to every Region it was sent to (seed 000)."""
    body = latest if latest is not None else tracked.body
    if body is None:
        return Plan("dropped", [], replace(tracked, state="ARCHIVED"))
    updated = _advance(tracked.updated_at, ctx)
    archived = _stamp(body, tracked.created_at, updated, "ARCHIVED")
    finding_id = generation_id(tracked.key, tracked.generation)
    sends = [_in_region(archived, finding_id, region, ctx) for region in sorted(tracked.regions)]
    state = replace(
        tracked,
        updated_at=updated,
        last_sent=ctx.now.timestamp(),
        state="ARCHIVED",
        body=archived,
    )
    return Plan("archived", sends, state)


def _send(
    action: str,
    finding: Finding,
    scope: str,
    digest: str,
    targets: Sequence[str],
    created: str,
    updated: str,
    generation: int,
    ctx: Context,
    leaving: Sequence[str],
) -> Plan:
    active = _stamp(finding, created, updated, "ACTIVE")
    finding_id = generation_id(str(finding["Id"]), generation)
    sends = [_in_region(active, finding_id, region, ctx) for region in targets]
    if leaving:
        archived = _stamp(finding, created, updated, "ARCHIVED")
        sends += [_in_region(archived, finding_id, region, ctx) for region in leaving]
    state = Tracked(
        scope=scope,
        key=str(finding["Id"]),
        hash=digest,
        created_at=created,
        updated_at=updated,
        regions=frozenset(targets),
        last_sent=ctx.now.timestamp(),
        generation=generation,
        state="ACTIVE",
        body=active,
    )
    return Plan(action, sends, state)


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


def _in_region(finding: Finding, finding_id: str, region: str, ctx: Context) -> Finding:
    return {**finding, "Id": finding_id, "ProductArn": ctx.product_arn_in(region)}


def _advance(previous: str, ctx: Context) -> str:
    """Now, but always later than the UpdatedAt sent before (Security Hub requires it)."""
    later = parse_time(previous) + timedelta(milliseconds=1)
    return asff.timestamp(max(ctx.now, later))


# --- DynamoDB --------------------------------------------------------------------------


class Store:
    """The tracking table through a boto3 DynamoDB client."""

    def __init__(
        self, dynamodb: Any, table: str, sleep: Any = lambda seconds: time.sleep(seconds)
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.sleep = sleep

    def cursor(self, source: str) -> Cursor:
        item = self.dynamodb.get_item(
            TableName=self.table,
            Key={"pk": {"S": "cursor"}, "sk": {"S": source}},
            ConsistentRead=True,
        ).get("Item")
        return dict(json.loads(item["v"]["S"])) if item else {}

    def commit(self, source: str, cursor: Cursor) -> None:
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": "cursor"},
                "sk": {"S": source},
                "v": {"S": json.dumps(cursor, sort_keys=True)},
                "t": {"N": str(int(time.time()))},
            },
        )

    def load(self, scope: str, keys: Iterable[str]) -> dict[str, Tracked]:
        found: dict[str, Tracked] = {}
        pending = [{"pk": {"S": f"f#{scope}"}, "sk": {"S": k}} for k in dict.fromkeys(keys)]
        for start in range(0, len(pending), 100):
            request: dict[str, Any] = {
                self.table: {"Keys": pending[start : start + 100], "ConsistentRead": True}
            }
            attempt = 0
            while request:
                response = self.dynamodb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    tracked = _from_item(item)
                    found[tracked.key] = tracked
                request = response.get("UnprocessedKeys") or {}
                attempt = self._pause(attempt) if request else attempt
        return found

    def load_scope(self, scope: str) -> dict[str, Tracked]:
        found: dict[str, Tracked] = {}
        paginator = self.dynamodb.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"f#{scope}"}},
            ConsistentRead=True,
        ):
            for item in page.get("Items", []):
                tracked = _from_item(item)
                found[tracked.key] = tracked
        return found

    def due(self, last_sent_before: float, limit: int) -> list[tuple[str, str]]:
        """(scope, key) of active findings last sent before the given time, oldest first."""
        response = self.dynamodb.query(
            TableName=self.table,
            IndexName=RENEWAL_INDEX,
            KeyConditionExpression="#due = :active AND ls < :before",
            ExpressionAttributeNames={"#due": "due"},
            ExpressionAttributeValues={
                ":active": {"S": "active"},
                ":before": {"N": repr(last_sent_before)},
            },
            Limit=limit,
        )
        return [(item["pk"]["S"][2:], item["sk"]["S"]) for item in response.get("Items", [])]

    def save(self, states: Iterable[Tracked]) -> None:
        requests = [{"PutRequest": {"Item": _to_item(s)}} for s in states]
        for start in range(0, len(requests), 25):
            pending = {self.table: requests[start : start + 25]}
            attempt = 0
            while pending:
                response = self.dynamodb.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                attempt = self._pause(attempt) if pending else attempt

    def _pause(self, attempt: int) -> int:
        if attempt >= 8:
            raise RuntimeError("DynamoDB kept items unprocessed after 8 attempts")
        self.sleep(min(0.05 * 2**attempt, 2.0))
        return attempt + 1


def _to_item(state: Tracked) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": f"f#{state.scope}"},
        "sk": {"S": state.key},
        "h": {"S": state.hash},
        "c": {"S": state.created_at},
        "u": {"S": state.updated_at},
        "ls": {"N": repr(state.last_sent)},
        "g": {"N": str(state.generation)},
        "st": {"S": state.state},
        "expires_at": {"N": str(int(state.last_sent) + EXPIRY_DAYS * 86_400)},
    }
    if state.regions:
        item["r"] = {"SS": sorted(state.regions)}
    if state.state == "ACTIVE":
        item["due"] = {"S": "active"}
    if state.body is not None:
        packed = zlib.compress(json.dumps(state.body, separators=(",", ":")).encode())
        if len(packed) < MAX_BODY_BYTES:
            item["b"] = {"B": packed}
    return item


def _from_item(item: Mapping[str, Any]) -> Tracked:
    body = json.loads(zlib.decompress(item["b"]["B"])) if "b" in item else None
    return Tracked(
        scope=item["pk"]["S"][2:],
        key=item["sk"]["S"],
        hash=item["h"]["S"],
        created_at=item["c"]["S"],
        updated_at=item["u"]["S"],
        regions=frozenset(item.get("r", {}).get("SS", [])),
        last_sent=float(item["ls"]["N"]),
        generation=int(item["g"]["N"]),
        state=item["st"]["S"],
        body=body,
    )
