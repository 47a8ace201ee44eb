"""Packed tracking state (hubrelay.packed) through boto3 against moto: writers of one scope
at once, each write a PutItem conditional on the version it read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hubrelay import aws
from hubrelay.tracking import Store
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
