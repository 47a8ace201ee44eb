"""What a V2 finding still owes after a failed delivery (`SentRecords.owe` and `.owed`),
through boto3 on moto's DynamoDB: compared per destination, with what was recorded sent."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from hubrelay.route_types import marker, reopened_field
from hubrelay.writeback_v2 import SentRecords

ROUTE = ("webhook", "sns")


@pytest.fixture
def records() -> Iterator[SentRecords]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="idempotency",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield SentRecords("idempotency", client)


def test_nothing_is_owed_without_a_failed_delivery(records: SentRecords) -> None:
    # Given both sent round 0, nothing failed (or a destination added to the route since)
    records.record("uid-1", "sns", "T-1", 0)
    assert records.owed("uid-1", records.marks("uid-1", ROUTE), ROUTE) == []


def test_a_failed_first_delivery_is_owed_until_it_is_recorded_sent(records: SentRecords) -> None:
    # Given SNS took round 0 and the webhook's delivery of it failed
    records.record("uid-1", "sns", "T-1", 0)
    records.owe("uid-1", "webhook", 0)
    # Then the webhook is owed it, SNS nothing
    assert records.owed("uid-1", records.marks("uid-1", ROUTE), ROUTE) == ["webhook"]
    # and once the webhook's delivery is recorded, nothing is
    records.record("uid-1", "webhook", "T-2", 0)
    assert records.owed("uid-1", records.marks("uid-1", ROUTE), ROUTE) == []


def test_a_later_round_that_failed_is_owed_an_earlier_one_not(records: SentRecords) -> None:
    # Given the webhook sent reopening 2
    marks = {marker("webhook"): "T-1", reopened_field("webhook"): "2"}
    # A failure of a round it was since sent (a stale retry) owes nothing
    records.owe("uid-1", "webhook", 2)
    assert records.owed("uid-1", marks, ROUTE) == []
    # Its delivery of reopening 3 failed: owed
    records.owe("uid-1", "webhook", 3)
    assert records.owed("uid-1", marks, ROUTE) == ["webhook"]


def test_an_earlier_round_failing_later_does_not_hide_a_later_one(records: SentRecords) -> None:
    # Given reopening 3 owed, then a concurrent invocation's attempt at round 2 failing
    marks = {marker("webhook"): "T-1", reopened_field("webhook"): "2"}
    records.owe("uid-1", "webhook", 3)
    records.owe("uid-1", "webhook", 2)
    # Then reopening 3 is still owed (a conditional put that only moves forward)
    assert records.owed("uid-1", marks, ROUTE) == ["webhook"]


def test_what_is_owed_is_per_finding(records: SentRecords) -> None:
    records.owe("uid-1", "webhook", 0)
    assert records.owed("uid-2", {}, ROUTE) == []


@pytest.mark.parametrize(
    "reference",
    [{"N": "5"}, {"NULL": True}, {"L": []}, {"S": ""}],
    ids=["number", "null", "list", "empty"],
)
def test_a_record_whose_values_are_not_what_hubrelay_writes_still_counts_as_sent(
    records: SentRecords, reference: dict
) -> None:
    # Given a record item edited by hand: its reference not a string, its round not a
    # number, and a failed delivery whose round is not an integer
    records.client.put_item(
        TableName="idempotency",
        Item={
            **SentRecords.key("uid-1", "webhook"),
            "reference": reference,
            "reopened": {"S": "x"},
        },
    )
    records.client.put_item(
        TableName="idempotency",
        Item={**SentRecords.key("uid-1", "sns", "hubrelay-v2-owed"), "reopened": {"N": "1.5"}},
    )
    # When its marks and what it owes are read (before: KeyError, ValueError)
    marks = records.marks("uid-1", ROUTE)
    owed = records.owed("uid-1", marks, ROUTE)
    # Then the webhook's delivery stands as sent (round 0), and SNS, never recorded sent, is
    # owed the round it failed, read as 0
    assert marks[marker("webhook")]
    assert marks[reopened_field("webhook")] == "0"
    assert owed == ["sns"]
    # And the records still move forward: a later round is recorded over the edited one
    assert records.record("uid-1", "webhook", "T-9", 1) is True
    assert records.marks("uid-1", ROUTE)[marker("webhook")] == "T-9"


@pytest.mark.parametrize(
    ("stored", "read"),
    [({"S": "5"}, 0), ({"N": "10000000"}, 0), ({"N": "-2"}, 0), ({"N": "1.5"}, 1)],
    ids=["string", "too-large", "negative", "fraction"],
)
def test_an_edited_round_is_read_as_the_forward_only_put_compares_it(
    records: SentRecords, stored: dict, read: int
) -> None:
    # Given a sent record whose round was edited by hand, and a failed delivery likewise
    records.client.put_item(
        TableName="idempotency",
        Item={**SentRecords.key("u", "webhook"), "reference": {"S": "T-5"}, "reopened": stored},
    )
    records.record("u", "sns", "m-0", 0)
    records.client.put_item(
        TableName="idempotency",
        Item={**SentRecords.key("u", "sns", "hubrelay-v2-owed"), "reopened": stored},
    )
    # Then the round is read as the put compares it: a round after it is recorded over it,
    # the round itself only when it is read as 0 (its value is replaced by a clean 0);
    # before (helper-73): a string "5" read as 5 was rolled back to 1, a 10000000 read as 0
    # could never be moved forward, a failed round 1.5 read as 0 hid a failed round 1
    assert records.marks("u", ROUTE)[reopened_field("webhook")] == str(read)
    assert records.owed("u", records.marks("u", ROUTE), ROUTE) == (["sns"] if read else [])
    assert records.record("u", "webhook", "T-again", read) is (read == 0)
    assert records.record("u", "webhook", "T-next", read + 1) is True
    assert records.marks("u", ROUTE)[reopened_field("webhook")] == str(read + 1)
