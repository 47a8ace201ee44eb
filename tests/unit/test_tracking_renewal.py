"""The renewal index holds one marker per scope, not one entry per finding (each entry is
one more write unit per finding saved): the marker's `ls` is never later than the oldest
last send of the scope's active findings, so the sweep still finds every finding due."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hubrelay import aws
from hubrelay.tracking import MARKER, Store, Tracked, _to_item, migrate
from tests.integration.collector_env import create_stack_resources

DAY = 86_400.0
NOW = 100 * DAY


@pytest.fixture
def store() -> Iterator[Store]:
    with mock_aws():
        aws.reset()
        create_stack_resources()
        yield Store(boto3.client("dynamodb", region_name="us-east-1"), "tracking")
        aws.reset()


def state(key: str, last_sent: float, scope: str = "shop/api", **more: Any) -> Tracked:
    return Tracked(scope, key, 0, "c", "u", frozenset({"us-east-1"}), last_sent, **more)


def marker(store: Store, scope: str = "shop/api") -> float | None:
    item = store.dynamodb.get_item(
        TableName="tracking", Key={"pk": {"S": MARKER}, "sk": {"S": scope}}
    ).get("Item")
    return None if item is None else float(item["ls"]["N"])


def test_rows_are_not_in_the_index_the_scope_marker_is(store: Store) -> None:
    store.save([state("a", 10 * DAY), state("b", 5 * DAY), state("c", 1 * DAY, state="ARCHIVED")])
    rows = store.dynamodb.scan(TableName="tracking")["Items"]
    assert [r for r in rows if "due" in r and r["pk"]["S"] != MARKER] == []
    assert marker(store) == 5 * DAY  # the oldest active send, not the archived one


def test_the_marker_only_moves_down_when_saving(store: Store) -> None:
    store.save([state("a", 10 * DAY)])
    store.save([state("b", 20 * DAY)])
    assert marker(store) == 10 * DAY
    store.save([state("c", 3 * DAY)])
    assert marker(store) == 3 * DAY


def test_the_sweep_finds_the_due_findings_of_a_due_scope_oldest_first(store: Store) -> None:
    store.save([state("a", 10 * DAY), state("b", 5 * DAY), state("c", 50 * DAY)])
    store.save([state("x", 1 * DAY, scope="other")])
    before = NOW - 80 * DAY  # 20 days
    # Scopes by their marker (the index's order), the findings of each oldest first.
    assert store.due(before, 10) == [("other", "x"), ("shop/api", "b"), ("shop/api", "a")]
    assert store.due(before, 2) == [("other", "x"), ("shop/api", "b")]


def test_a_marker_with_nothing_due_moves_up_to_the_oldest_send_or_goes(store: Store) -> None:
    store.save([state("a", 10 * DAY), state("c", 50 * DAY)])
    store.save([state("a", 90 * DAY)])  # renewed: the marker stays at 10 days
    assert store.due(NOW - 80 * DAY, 10) == []
    assert marker(store) == 50 * DAY
    store.save([replace(state("c", 95 * DAY), state="ARCHIVED")])
    store.save([replace(state("a", 96 * DAY), state="ARCHIVED")])
    assert store.due(60 * DAY, 10) == []
    assert store.due(60 * DAY, 10) == []
    assert marker(store) is None


def test_rows_of_an_earlier_release_in_the_index_are_still_found(store: Store) -> None:
    old = {**_to_item(state("legacy", 2 * DAY)), "due": {"S": "active"}}
    store.dynamodb.put_item(TableName="tracking", Item=old)
    assert store.due(NOW - 80 * DAY, 10) == [("shop/api", "legacy")]
    store.save([state("legacy", 99 * DAY)])  # saved again: the marker in
    migrate(store, lambda: True)  # and the row moved: out of the index
    assert store.due(NOW - 80 * DAY, 10) == []
    assert marker(store) == 99 * DAY
