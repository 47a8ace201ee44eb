"""Packed tracking state (hubrelay.packed) through boto3 against moto: writers of one scope
at once, each write a PutItem conditional on the version it read."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hubrelay import aws, packed
from hubrelay.tracking import Store, Tracked, item_size
from tests.integration.collector_env import create_stack_resources
from tests.unit.test_tracking import logical, sent_state


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        aws.reset()
        create_stack_resources()
        yield boto3.client("dynamodb", region_name="us-east-1")
        aws.reset()


def _state(finding: dict[str, Any], key: str) -> Any:
    return replace(sent_state(logical(finding, Id=key)), scope="shop/api")


def test_two_writers_of_one_scope_lose_nothing(dynamodb: Any, finding: dict[str, Any]) -> None:
    first, second = Store(dynamodb, "tracking"), Store(dynamodb, "tracking")
    first.save([_state(finding, "scanner/a")])
    # Both read the scope's bucket at the same version; each then writes its own finding.
    assert set(first.load_scope("shop/api")) == {"scanner/a"}
    assert set(second.load_scope("shop/api")) == {"scanner/a"}
    first.save([_state(finding, "scanner/b")])
    # The second's put is conditional on the version it read: it fails, re-reads, merges.
    second.save([_state(finding, "scanner/c")])
    seen = Store(dynamodb, "tracking").load_scope("shop/api")
    assert set(seen) == {"scanner/a", "scanner/b", "scanner/c"}


def test_two_writers_of_many_findings_lose_nothing_across_splits(
    dynamodb: Any, finding: dict[str, Any]
) -> None:
    first, second = Store(dynamodb, "tracking"), Store(dynamodb, "tracking")
    first.load_scope("shop/api")
    second.load_scope("shop/api")
    for n in range(60):
        (first if n % 2 else second).save([_state(finding, f"scanner/{n}")])
    seen = Store(dynamodb, "tracking").load_scope("shop/api")
    assert set(seen) == {f"scanner/{n}" for n in range(60)}


def test_a_save_past_a_split_left_unfinished_and_into_another_bucket_loses_nothing(
    dynamodb: Any, finding: dict[str, Any]
) -> None:
    # Given a scope whose first bucket (up to "c") a run that timed out left naming a
    # piece from "8" on that it never wrote, and a bucket from "c" on
    keys = [f"scanner/{n}" for n in range(200)]
    low = next(k for k in keys if packed.key_hash(k) < "8")
    middle = next(k for k in keys if "8" <= packed.key_hash(k) < "c")
    high = next(k for k in keys if packed.key_hash(k) >= "c")
    held = {packed.key_hash(middle): _state(finding, middle)}
    splitting = packed.Bucket("shop/api", packed.FIRST, held, hi="c", split=("8",))
    above = packed.Bucket("shop/api", "c")
    for bucket in (splitting, above):
        item = packed.item_of(bucket, bucket.entries.values(), 1)
        dynamodb.put_item(TableName="tracking", Item=item)
    # When a run that has read nothing of the scope saves a finding below "8" and one
    # from "c" on (found first: highest first), completing the split on its way
    Store(dynamodb, "tracking").save([_state(finding, low), _state(finding, high)])
    # Then all three are tracked (the save raised KeyError: 'c' before)
    assert set(Store(dynamodb, "tracking").load_scope("shop/api")) == {low, middle, high}


def _scan_states(count: int) -> list[Tracked]:
    """States as a Trivy scan of `count` vulnerabilities leaves them (keys as its mapper
    makes them), last sent together."""
    return [
        Tracked(
            scope="trivy:shop/api:registry.example.com/shop/api:1.4.2",
            key=f"hubrelay/trivy/vulnerability/CVE-2026-{n:05d}/"
            + hashlib.sha256(b"k%d" % n).hexdigest()[:32],
            hash=int(hashlib.sha256(str(n).encode()).hexdigest()[:16], 16),
            created_at="2026-10-30T08:12:44.123Z",
            updated_at="2026-11-01T00:00:00.000Z",
            regions=frozenset({"us-east-1"}),
            last_sent=1_793_491_200.0,
            product="",
            body_ref=f"errors/tracking/2026/11/01/{n // 250:032x}.json.gz",
        )
        for n in range(count)
    ]


def test_a_split_fills_its_pieces_close_to_a_write_unit() -> None:
    # Given the states of a 2,000-finding scan saved into a scope's first bucket
    states = _scan_states(2_000)
    first = packed.Bucket(states[0].scope, packed.FIRST)
    # When the bucket splits
    by_hash = {packed.key_hash(t.key): t for t in states}
    parts = packed.pieces(first, by_hash, item_size)
    sizes = [item_size(packed.item_of(p, p.entries.values(), 2)) for p in parts]
    # Then no piece is over a write unit, and all but the last fill at least 85% of one
    # (halving the pieces that did not fit left them two thirds full: a third more items
    # to store, back up and write)
    assert max(sizes) <= packed.ITEM_BYTES
    assert min(sizes[:-1]) >= 0.85 * packed.ITEM_BYTES
    assert sum(len(p.entries) for p in parts) == 2_000
    # And a bucket that fits stays one piece
    assert len(packed.pieces(first, dict(list(by_hash.items())[:5]), item_size)) == 1


class _Crash(Exception):
    """The function's process ending (a timeout, an out-of-memory kill) mid-save."""


class _CrashingAfter:
    """A DynamoDB client whose process ends before its (puts + 1)-th PutItem."""

    def __init__(self, client: Any, puts: int) -> None:
        self.client, self.left = client, puts

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_item(self, **kwargs: Any) -> Any:
        if self.left == 0:
            raise _Crash
        self.left -= 1
        return self.client.put_item(**kwargs)


def _items(dynamodb: Any, scope: str) -> list[packed.Bucket]:
    pages = dynamodb.get_paginator("query").paginate(
        TableName="tracking",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": packed.PREFIX + scope}},
        ConsistentRead=True,
    )
    return [packed.bucket_of(item) for page in pages for item in page["Items"]]


def _assert_each_entry_in_exactly_its_bucket(buckets: list[packed.Bucket]) -> None:
    """No split left unfinished, and each key hash held by the one bucket whose range has
    it (the greatest bound not above it, as a reader's Query finds it)."""
    bounds = sorted(b.lo for b in buckets)
    assert bounds[0] == packed.FIRST
    for bucket in buckets:
        assert not bucket.split, bucket.lo
        for digest in bucket.entries:
            assert packed.cover(bounds, digest) == bucket.lo


def test_a_save_ended_at_any_write_of_its_splits_loses_nothing_saved_and_a_rerun_completes(
    dynamodb: Any,
) -> None:
    # Given a scope holding 60 findings, and a save of 140 more that splits its buckets
    def scan(scope: str) -> tuple[list[Tracked], list[Tracked]]:
        states = [replace(t, scope=scope) for t in _scan_states(200)]
        return states[:60], states[60:]

    earlier, later = scan("trivy:shop/api:counted")
    Store(dynamodb, "tracking").save(earlier)
    counter = _CrashingAfter(dynamodb, 10**6)
    Store(counter, "tracking").save(later)
    writes = 10**6 - counter.left
    unfinished = 0  # cases that left a split unfinished: the ones this is about
    for puts in range(writes):
        scope = f"trivy:shop/api:crash-{puts}"  # a scope of its own for each case
        earlier, later = scan(scope)
        Store(dynamodb, "tracking").save(earlier)
        # When the function's process ends before the save's (puts + 1)-th write
        with pytest.raises(_Crash):
            Store(_CrashingAfter(dynamodb, puts), "tracking").save(later)
        unfinished += any(b.split for b in _items(dynamodb, scope))
        # Then every finding saved before is still tracked as it was, read whole or by key
        whole = Store(dynamodb, "tracking").load_scope(scope)
        kept = {t.key: whole[t.key].hash for t in earlier if t.key in whole}
        assert kept == {t.key: t.hash for t in earlier}, puts
        found = Store(dynamodb, "tracking").load(scope, [t.key for t in earlier])
        assert set(found) == {t.key for t in earlier}, puts
        # And the next run, saving the same states again (the crashed run's sends are sent
        # again), leaves all 200 tracked, each in exactly its bucket
        Store(dynamodb, "tracking").save(later)
        rerun = Store(dynamodb, "tracking")
        keys = {t.key for t in earlier + later}
        assert set(rerun.load(scope, keys)) == keys, puts
        assert set(rerun.load_scope(scope)) == keys, puts
        _assert_each_entry_in_exactly_its_bucket(_items(dynamodb, scope))
    assert unfinished >= 3, (unfinished, writes)
