"""Change tracking state packed many findings to an item (the tracking table's buckets).

A row per finding cost a write unit per finding saved and 100 bytes of DynamoDB overhead
per finding stored, with point-in-time recovery on top: more than the rest of hubrelay's
bill together. Here the findings of a scope share items ("buckets") of at most 1 KB, so
saving a chunk of a scan costs about one write unit per 20 findings, and a single change
still one ("Item sizes and formats", DynamoDB bills a write by the started KB of the item:
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).

Layout: pk "t#<scope>", sk the bucket's lower bound, a prefix of the key hash (`key_hash`,
16 hex digits of SHA-256 of the base Id); the first bucket's is "-" (below every digit: a
key may not be empty). A finding is in the
bucket with the greatest bound not above its key hash (one Query, ScanIndexForward false,
Limit 1). Attributes: `e` the entries (JSON, raw deflate), `v` the item's version, `hi`
the next bucket's bound when it was written (absent for the last), `sp` the bounds of
pieces being split off (below), `expires_at` the TTL of its newest entry.

Every write holds only while the item is as read: PutItem with `v = :v`, or
`attribute_not_exists(pk)` for a new one ("Condition expressions", optimistic locking with
a version number:
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/DynamoDBMapper.OptimisticLocking.html).
A write that finds the item changed reads it again and applies its states again (a state
replaces the entry of its finding, as a row's PutItem did), so two writers never lose each
other's findings.

A bucket over 1 KB splits, in three writes that keep every entry findable at each step:
the bucket first names the pieces' bounds (`sp`) and keeps the entries it held, then each
piece is created (attribute_not_exists), then the bucket drops what went into them. A
reader or writer finding `sp` completes the split before it goes on, so a crash in between
costs nothing but the writes of the states being saved (a harmless re-send, as a crash
before a save always was).
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import itertools
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from hubrelay import asff
from hubrelay.errors import TransientError
from hubrelay.sources import parse_time
from hubrelay.tracked import EXPIRY_DAYS, Tracked

PREFIX = "t#"
FIRST = "-"  # the first bucket's bound
ITEM_BYTES = 1024  # one write unit
KEY_HASH_CHARS = 16  # 64 bits: a collision in a scope of a million findings is 1 in 10^7
CONTENT_HASH_BYTES = 8  # a content hash kept to 64 bits (tracking.content_hash)
STATES = ("ACTIVE", "ARCHIVED")


def hash_digits(content_hash: int) -> str:
    """A content hash (tracking.content_hash) as an entry keeps it: 16 hex digits."""
    return f"{content_hash:016x}"


def hash_of_digits(digits: str) -> int:
    """A content hash as tracking stores it: 16 hex digits (an entry, a row), or all 64 of
    SHA-256 (a row of an earlier release), read to its 64 kept bits."""
    return int(digits[: 2 * CONTENT_HASH_BYTES], 16)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:KEY_HASH_CHARS]


@dataclass
class Bucket:
    """One item of packed state: entries (tracking.Tracked, body-less) by key hash."""

    scope: str
    lo: str
    entries: dict[str, Any] = field(default_factory=dict)
    version: int = 0  # 0: not in the table
    hi: str | None = None
    split: tuple[str, ...] = ()  # `sp`

    def holds(self, digest: str) -> bool:
        """Whether `digest` is in this bucket's range as it was written."""
        return self.lo <= digest and (self.hi is None or digest < self.hi)


def item_of(bucket: Bucket, entries: Iterable[Any], version: int) -> dict[str, Any]:
    rows = sorted(entries, key=lambda t: key_hash(t.key))
    item: dict[str, Any] = {
        "pk": {"S": PREFIX + bucket.scope},
        "sk": {"S": bucket.lo},
        "v": {"N": str(version)},
        "e": {"B": encode(rows)},
    }
    if rows:
        newest = max(t.last_sent for t in rows)
        item["expires_at"] = {"N": str(int(newest) + EXPIRY_DAYS * 86_400)}
    if bucket.hi is not None:
        item["hi"] = {"S": bucket.hi}
    if bucket.split:
        item["sp"] = {"SS": list(bucket.split)}
    return item


def bucket_of(item: Mapping[str, Any]) -> Bucket:
    scope = item["pk"]["S"][len(PREFIX) :]
    entries = decode(scope, item["e"]["B"])
    return Bucket(
        scope=scope,
        lo=item["sk"]["S"],
        entries={key_hash(t.key): t for t in entries},
        version=int(item["v"]["N"]),
        hi=item["hi"]["S"] if "hi" in item else None,
        split=tuple(sorted(item.get("sp", {}).get("SS", []))),
    )


def pieces(bucket: Bucket, entries: Mapping[str, Any], size: Callable[..., int]) -> list[Bucket]:
    """`entries` (by key hash, of `bucket`'s range) in buckets of at most ITEM_BYTES by
    `size` (tracking.item_size); the first keeps the bucket's bound, the last its `hi`.
    Each key hash is the caller's string, never made again: a first run's scope holds tens
    of thousands."""
    # Key hashes only, not (key hash, entry) pairs: a pair each was 2.5 MB of a first run.
    ordered = sorted(entries)
    if len(ordered) < 2 or (
        len(ordered) <= _MOST_ENTRIES
        and size(item_of(replace(bucket, split=()), entries.values(), bucket.version + 2))
        <= ITEM_BYTES
    ):
        out = [replace(bucket, entries={d: entries[d] for d in ordered}, split=())]
    else:
        out = _fill(bucket.scope, ordered, entries, size)
    # Bounds between neighbours: the shortest prefix of the upper one's first key hash.
    out[0].lo = bucket.lo
    for low, high in itertools.pairwise(out):
        below = max(low.entries) if low.entries else low.lo
        high.lo = _bound(below, min(high.entries))
        low.hi = high.lo
    out[-1].hi = bucket.hi
    return out


# More entries than this are split (_fill) without first encoding them all only to learn
# that they do not fit: a whole first run's scope, tens of thousands, was megabytes of rows.
# An entry holds its own key and a 16-digit content hash, which leave deflate little to
# share, so hardly ever do so many fit in ITEM_BYTES (128 entries of 8 bytes would fill
# it); if they do, _fill still makes one piece of them when they fit in FILL of an item.
_MOST_ENTRIES = 2 * ITEM_BYTES // CONTENT_HASH_BYTES


# A split fills each piece to this share of a write unit, leaving room for the bounds
# (`sk`, `hi`: up to 16 characters each) and a few entries more before the next split.
# Pieces sized from the size of the whole came out two thirds full: entries compress
# less well in a piece than in the whole, so the pieces that did not fit were halved.
FILL = 0.9


def _fill(
    scope: str, ordered: list[str], entries: Mapping[str, Any], size: Callable[..., int]
) -> list[Bucket]:
    """The `entries` of the sorted key hashes `ordered` in consecutive pieces, each the most
    entries that fit in FILL of ITEM_BYTES (at least one): a piece's count starts from the
    last one's, so each piece costs two or three encodings."""

    def fits(start: int, count: int) -> bool:
        group = [entries[d] for d in ordered[start : start + count]]
        return count < 2 or size(item_of(Bucket(scope, ""), group, 2)) <= ITEM_BYTES * FILL

    out: list[Bucket] = []
    start, count = 0, 8
    while start < len(ordered):
        count = max(1, min(count, len(ordered) - start))
        while not fits(start, count):
            count -= 1
        while start + count < len(ordered) and fits(start, count + 1):
            count += 1
        out.append(Bucket(scope, "", {d: entries[d] for d in ordered[start : start + count]}))
        start += count
    return out


def _bound(below: str, at: str) -> str:
    """The shortest prefix of `at` above `below` (so the keys from `at` on are at or above
    it, those up to `below` under it)."""
    for n in range(1, len(at) + 1):
        if at[:n] > below:
            return at[:n]
    return at


def cover(bounds: list[str], digest: str) -> str | None:
    """The greatest of the sorted `bounds` not above `digest`."""
    at = bisect.bisect_right(bounds, digest)
    return bounds[at - 1] if at else None


# --- entries ---------------------------------------------------------------------------
# One JSON document per bucket, raw deflate: {"r": [Region lists], "p": [products],
# "o": [body objects], "e": [[key, hash, created, updated, last sent, generation, state,
# r index, p index, o index], ...]}. Timestamps in hubrelay's own form (asff.timestamp) are
# epoch milliseconds, any other is kept as it is; Regions, products and body objects are
# each written once per bucket.


def encode(entries: list[Any]) -> bytes:
    tables: dict[str, dict[Any, int]] = {"r": {}, "p": {}, "o": {}}

    def index(table: str, value: Any) -> int:
        return tables[table].setdefault(value, len(tables[table]))

    rows = [
        [
            t.key,
            hash_digits(t.hash),
            _time_out(t.created_at),
            _time_out(t.updated_at),
            int(t.last_sent) if t.last_sent == int(t.last_sent) else t.last_sent,
            t.generation,
            STATES.index(t.state) if t.state in STATES else t.state,
            index("r", tuple(sorted(t.regions))),
            index("p", t.product),
            index("o", t.body_ref),
        ]
        for t in entries
    ]
    document = {
        name: [list(v) if name == "r" else v for v in table] for name, table in tables.items()
    }
    text = json.dumps({**document, "e": rows}, separators=(",", ":"))
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(text.encode()) + packer.flush()


def decode(scope: str, blob: bytes) -> list[Tracked]:
    document = json.loads(zlib.decompress(blob, -15))
    regions, products, objects = document["r"], document["p"], document["o"]
    return [
        Tracked(
            scope=scope,
            key=key,
            hash=hash_of_digits(digest),
            created_at=_time_in(created),
            updated_at=_time_in(updated),
            regions=frozenset(regions[r]),
            last_sent=float(last_sent),
            generation=generation,
            state=STATES[state] if isinstance(state, int) else state,
            product=products[p],
            body_ref=objects[o],
        )
        for key, digest, created, updated, last_sent, generation, state, r, p, o in document["e"]
    ]


def _time_out(text: str) -> int | str:
    try:
        moment = parse_time(text)
    except (TypeError, ValueError):
        return text
    millis = round(moment.timestamp() * 1000)
    return millis if _time_in(millis) == text else text


def _time_in(value: int | str) -> str:
    if isinstance(value, str):
        return value
    return asff.timestamp(datetime.fromtimestamp(value / 1000, UTC))


# --- the table --------------------------------------------------------------------------


class ConflictError(TransientError):
    """A bucket kept changing under every attempt to write it."""


class _Changed(Exception):
    """A conditional write found the item changed: read again, apply again."""


WRITE_ATTEMPTS = 8


class _Table:
    """What a run knows of the buckets, and the conditional writes (splits completed
    included) that reading and writing both need."""

    def __init__(self, dynamodb: Any, table: str, size: Callable[..., int]) -> None:
        self.dynamodb, self.table, self.size = dynamodb, table, size
        self.known: dict[str, dict[str, Bucket]] = {}  # scope -> bound -> bucket
        self.whole: set[str] = set()  # scopes read whole
        self.writes = 0

    def _forget(self, scope: str) -> None:
        """Drop what was read of `scope`: the table holds something else now."""
        self.known.pop(scope, None)
        self.whole.discard(scope)

    def _put(self, bucket: Bucket, version: int) -> None:
        """Write `bucket` as version `version` + 1, if the item is still at `version` (0:
        not there); on success `bucket` is what the table holds."""
        item = item_of(bucket, bucket.entries.values(), version + 1)
        if version:
            condition = {
                "ConditionExpression": "v = :v",
                "ExpressionAttributeValues": {":v": {"N": str(version)}},
            }
        else:
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        try:
            self.dynamodb.put_item(TableName=self.table, Item=item, **condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise _Changed from exc
            raise
        self.writes += 1
        bucket.version = version + 1
        if not bucket.split:
            self.known.setdefault(bucket.scope, {})[bucket.lo] = bucket

    def _complete(self, bucket: Bucket) -> None:
        """Finish a split another run began: the pieces its `sp` names, from its entries
        (a piece already there stays as it is), then the bucket without them."""
        bounds = [bucket.lo, *bucket.split]
        highs = [*bucket.split, bucket.hi]
        parts = []
        for low, high in zip(bounds, highs, strict=True):
            held = {
                d: t for d, t in bucket.entries.items() if d >= low and (high is None or d < high)
            }
            parts.append(Bucket(bucket.scope, low, held, hi=high))
        for piece in parts[1:]:
            with contextlib.suppress(_Changed):
                self._put(piece, 0)
        with contextlib.suppress(_Changed):
            self._put(parts[0], bucket.version)
        self._forget(bucket.scope)


class _Reader(_Table):
    """The reading side: a scope whole, findings by key, the placement sweep's pages, and
    the bucket a key hash is in."""

    def scope(self, scope: str) -> dict[str, Any]:
        """Every finding of `scope` (tracking.Tracked, by base Id)."""
        if scope not in self.whole:
            self._read_scope(scope)
        return {t.key: t for b in self.known[scope].values() for t in _own(b)}

    def find(self, scope: str, keys: Iterable[str]) -> dict[str, Any]:
        """The findings of `keys` that are tracked (by base Id)."""
        wanted = {key_hash(k): k for k in keys}
        covers = dict(self._covers(scope, wanted))
        found = {}
        for digest, key in wanted.items():
            bucket = covers.get(digest)
            entry = None if bucket is None else bucket.entries.get(digest)
            if entry is not None and entry.key == key:
                found[key] = entry
        return found

    def page(self, start: Mapping[str, Any] | None, limit: int) -> tuple[list[Any], Any]:
        """One page of a Scan over the buckets (the placement sweep): their findings, and
        where the next page starts (None after the last)."""
        args: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(pk, :packed)",
            "ExpressionAttributeValues": {":packed": {"S": PREFIX}},
            "ConsistentRead": True,
            "Limit": limit,
        }
        if start:
            args["ExclusiveStartKey"] = dict(start)
        response = self.dynamodb.scan(**args)
        found = []
        for item in response.get("Items", []):
            bucket = bucket_of(item)
            if bucket.split:
                self._complete(bucket)
            found += _own(bucket)
        return found, response.get("LastEvaluatedKey")

    def _read_scope(self, scope: str) -> None:
        for _ in range(WRITE_ATTEMPTS):
            items: list[dict[str, Any]] = []
            paginator = self.dynamodb.get_paginator("query")
            for page in paginator.paginate(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": PREFIX + scope}},
                ConsistentRead=True,
            ):
                items += page.get("Items", [])
            buckets = [bucket_of(item) for item in items]
            pending = [b for b in buckets if b.split]
            for bucket in pending:
                self._complete(bucket)
            if not pending:
                for low, high in itertools.pairwise(buckets):
                    low.hi = high.lo
                if buckets:
                    buckets[-1].hi = None
                self.known[scope] = {b.lo: b for b in buckets}
                self.whole.add(scope)
                return
        raise ConflictError(f"tracking buckets of scope {scope[:200]} kept splitting")

    def _covers(self, scope: str, digests: Iterable[str]) -> Iterator[tuple[str, Bucket | None]]:
        """The bucket each digest is in (None: no bucket at or below it), digest by digest:
        of a scope read whole, from its bounds, sorted once (a first run's scope is
        thousands of buckets); else highest first, so one Query answers every digest down
        to the bound of the bucket it found. Pairs, not a dict of them: a first run's
        save is tens of thousands of digests."""
        known = self.known.setdefault(scope, {})
        if scope in self.whole:
            bounds = sorted(known)
            for digest in digests:
                bound = cover(bounds, digest)
                yield digest, None if bound is None else known[bound]
            return
        last: tuple[Bucket | None, str] | None = None  # (bucket, down to) of the last Query
        for digest in sorted(digests, reverse=True):
            if last is not None and (last[0] is None or digest >= last[1]):
                yield digest, last[0]
            elif held := [b for b in known.values() if b.holds(digest)]:
                yield digest, max(held, key=lambda b: b.lo)
            else:
                bucket = self._fetch(scope, digest)
                last = (bucket, FIRST if bucket is None else bucket.lo)
                yield digest, bucket

    def _fetch(self, scope: str, digest: str) -> Bucket | None:
        for _ in range(WRITE_ATTEMPTS):
            items = self.dynamodb.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND sk <= :d",
                ExpressionAttributeValues={":pk": {"S": PREFIX + scope}, ":d": {"S": digest}},
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
            ).get("Items", [])
            if not items:
                return None
            bucket = bucket_of(items[0])
            if not bucket.split:
                self.known.setdefault(scope, {})[bucket.lo] = bucket
                return bucket
            self._complete(bucket)
        raise ConflictError(f"tracking buckets of scope {scope[:200]} kept splitting")

    def _lowest(self, scope: str) -> str | None:
        """The bound of the scope's first bucket (the `hi` of a new first bucket below it)."""
        if scope in self.whole:
            return min(self.known[scope], default=None)
        items = self.dynamodb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": PREFIX + scope}},
            Limit=1,
            ConsistentRead=True,
        ).get("Items", [])
        return str(items[0]["sk"]["S"]) if items else None


class Buckets(_Reader):
    """The buckets of the tracking table, read once per run and written back; every write
    conditional on the version read."""

    def write(self, scope: str, states: Iterable[Any]) -> None:
        """Each state in place of its finding's entry (a new entry for a new finding)."""
        by_digest = {key_hash(s.key): s for s in states}
        for _ in range(WRITE_ATTEMPTS):
            try:
                self._write(scope, by_digest)
                return
            except _Changed:
                self._forget(scope)
        raise ConflictError(f"tracking buckets of scope {scope[:200]} kept changing")

    def _write(self, scope: str, by_digest: dict[str, Any]) -> None:
        # The buckets as _covers found them, not looked up again in `known`: a split it
        # completed on the way forgot the scope, and with it the buckets found before.
        # Each is written conditional on the version it was read at all the same.
        groups: dict[str | None, tuple[Bucket | None, list[str]]] = {}
        for digest, bucket in self._covers(scope, by_digest):
            bound = None if bucket is None else bucket.lo
            groups.setdefault(bound, (bucket, []))[1].append(digest)
        for bucket, digests in groups.values():
            if bucket is None:
                bucket = Bucket(scope, FIRST, hi=self._lowest(scope))
            self._store(bucket, digests, by_digest)

    def _store(self, bucket: Bucket, digests: list[str], states: Mapping[str, Any]) -> None:
        """`bucket` with the `states` of `digests` (key hashes) in it, split when over
        ITEM_BYTES (the module's doc)."""
        entries = dict(bucket.entries)
        for digest in digests:
            entries[digest] = _entry(states[digest])
        # What would have expired as rows (TTL) goes when its bucket is written.
        newest = max(states[d].last_sent for d in digests)
        horizon = newest - EXPIRY_DAYS * 86_400
        for digest in [d for d, t in entries.items() if t.last_sent < horizon]:
            del entries[digest]
        parts = pieces(bucket, entries, self.size)
        del entries  # in `parts` now: a first run's save holds it once, not twice
        if len(parts) == 1:
            self._put(parts[0], bucket.version)
            return
        # 1. The bucket names the pieces and keeps what it held in their ranges.
        own = parts[0].entries
        before = {d: t for d, t in bucket.entries.items() if d >= parts[1].lo}
        bounds = tuple(p.lo for p in parts[1:])
        naming = Bucket(bucket.scope, bucket.lo, {**own, **before}, hi=bucket.hi, split=bounds)
        self._put(naming, bucket.version)
        # 2. The pieces; 3. the bucket without what went into them.
        for piece in parts[1:]:
            self._put(piece, 0)
        self._put(parts[0], naming.version)


def _own(bucket: Bucket) -> list[Any]:
    """The bucket's entries; of a bucket being split, those below the first piece (a
    finished split leaves nothing else in a bucket)."""
    if not bucket.split:
        return list(bucket.entries.values())
    return [t for d, t in bucket.entries.items() if d < bucket.split[0]]


def _entry(state: Any) -> Any:
    """A state as an entry keeps it: no body, no undelivered marks (hubrelay.delivery);
    the state itself when it has none of them (a copy of each would double a run's)."""
    if state.body is None and not state.undelivered and not state.undelivered_sends:
        return state
    return replace(state, body=None, undelivered=frozenset(), undelivered_sends=frozenset())
