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
