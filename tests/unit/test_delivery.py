"""Delivery feedback in the importer: a finding quarantined for an outside cause is marked
undelivered on its tracking row (moto DynamoDB, the Security Hub contract emulator)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hubrelay import aws, delivery, message
from hubrelay.delivery import Ref
from hubrelay.importer import Services, import_records
from hubrelay.settings import Settings
from hubrelay.sources import Context
from hubrelay.tracking import Policy, Store, plan
from hubrelay_emulator import samples
from hubrelay_emulator import securityhub as hub
from tests.integration.collector_env import create_stack_resources

STACK = "123456789012"
REGION = "us-east-1"
PARTNER = f"arn:aws:securityhub:{REGION}:{STACK}:product/hubrelay/test"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def env() -> Iterator[dict[str, Any]]:
    contract = hub.install(hub.Contract(clock=lambda: 0.0))
    with mock_aws():
        aws.reset()
        create_stack_resources()
        sqs = boto3.client("sqs", region_name=REGION)
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        hub.subscribe((*samples.SUBSCRIBED, STACK), REGION, PARTNER)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        yield {"contract": contract, "sqs": sqs, "dlq": dlq, "dynamodb": dynamodb}
        aws.reset()
    hub.uninstall()


def tracked_send(env: dict[str, Any], finding: dict[str, Any], account: str) -> dict[str, Any]:
    """What the collector sends for `finding` in `account`, its state saved in tracking."""
    source = {**copy.deepcopy(finding), "Id": "scanner/finding-1", "AwsAccountId": account}
    source["Resources"] = [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b", "Region": REGION}]
    ctx = Context(account, (REGION,), PARTNER, T0)
    planned = plan(source, "shop/api", None, ctx, Policy())
    assert planned.state is not None
    Store(env["dynamodb"], "tracking").save([planned.state])
    (sent,) = planned.sends
    return sent


def run_importer(env: dict[str, Any], sent: dict[str, Any], receive: int = 1) -> Any:
    body = next(message.pack_messages([sent], refs=[Ref("shop/api", "scanner/finding-1")]))
    settings = Settings(
        quarantine_queue_url=env["dlq"], tracking_table="tracking", max_receive_count=5
    )
    services = Services(aws.securityhub, env["sqs"], env["dynamodb"])
    return import_records([("m1", body, receive)], settings, services)


def row(env: dict[str, Any]) -> dict[str, Any]:
    key = {"pk": {"S": "f#shop/api"}, "sk": {"S": "scanner/finding-1"}}
    item: dict[str, Any] = env["dynamodb"].get_item(TableName="tracking", Key=key)["Item"]
    return item


def test_an_unsubscribed_account_marks_the_finding_undelivered_with_a_backoff(env, finding):
    # Given a tracked send for an account without Security Hub (InvalidAccess)
    sent = tracked_send(env, finding, samples.UNSUBSCRIBED)
    # When the importer quarantines it
    outcome = run_importer(env, sent)
    # Then it is in the dead-letter queue and its tracking row is marked undelivered there,
    # due again after the first backoff step of that (account, Region)
    assert outcome.reasons() == {"InvalidAccess": 1}
    item = row(env)
    assert item["ur"] == {"S": "undelivered"}
    assert item["ud"] == {"SS": [REGION]}
    assert item["uc"] == {"S": "InvalidAccess"}
    backoff = env["dynamodb"].get_item(
        TableName="tracking", Key={"pk": {"S": f"b#{samples.UNSUBSCRIBED}"}, "sk": {"S": REGION}}
    )["Item"]
    assert backoff["n"] == {"N": "1"}
    assert float(item["nr"]["N"]) == float(backoff["nr"]["N"])
    assert Store(env["dynamodb"], "tracking").undelivered(float(item["nr"]["N"]), 10) == [
        ("shop/api", "scanner/finding-1")
    ]


def test_a_finding_refused_as_invalid_is_not_marked(env, finding):
    # Given a tracked send that Security Hub refuses as invalid input
    sent = tracked_send(env, finding, samples.SUBSCRIBED[0])
    env["contract"].inject("failed_findings", ids=[sent["Id"]], error_code="InvalidInput")
    # When the importer quarantines it
    outcome = run_importer(env, sent)
    # Then tracking is not told: only a change of the finding sends it again
    assert outcome.reasons() == {"InvalidInput": 1}
    assert "ur" not in row(env)
    assert "ud" not in row(env)


def test_a_newer_send_is_never_clobbered(env, finding):
    # Given a send that failed, recorded after a newer send of the same finding
    old = tracked_send(env, finding, samples.UNSUBSCRIBED)
    newer = {**old, "Title": "changed"}
    ctx = Context(samples.UNSUBSCRIBED, (REGION,), PARTNER, T0 + timedelta(hours=1))
    state = Store(env["dynamodb"], "tracking").load("shop/api", ["scanner/finding-1"])
    source = {**newer, "Id": "scanner/finding-1"}
    replanned = plan(source, "shop/api", state["scanner/finding-1"], ctx, Policy())
    assert replanned.state is not None
    Store(env["dynamodb"], "tracking").save([replanned.state])
    # When the importer quarantines the older send
    outcome = run_importer(env, old)
    # Then the row keeps the newer send, unmarked
    assert outcome.reasons() == {"InvalidAccess": 1}
    assert outcome.feedback.superseded == 1
    assert outcome.feedback.marked == 0
    assert "ur" not in row(env)
    assert row(env)["u"]["S"] == replanned.state.updated_at


def test_a_send_not_yet_recorded_is_left_for_redelivery(env, finding):
    # Given a send enqueued but not saved yet (the collector saves after enqueueing)
    sent = tracked_send(env, finding, samples.UNSUBSCRIBED)
    later = {**sent, "UpdatedAt": "2026-11-01T01:00:00.000Z"}
    # When the importer quarantines it
    outcome = run_importer(env, later)
    # Then the message is delivered again (by when the row holds it), unless on its last
    # receive
    assert outcome.failed_messages == {"m1"}
    assert run_importer(env, later, receive=5).failed_messages == set()


def test_throttling_until_the_last_receive_is_an_outside_cause_and_access_is_too():
    assert delivery.outside_cause("RetriesExhausted")
    assert delivery.outside_cause("InvalidAccess")
    assert delivery.outside_cause("AccessDeniedException")
    assert not delivery.outside_cause("InvalidInput")
    assert not delivery.outside_cause("InvalidFinding")
    assert [delivery.backoff_s(n) for n in (1, 2, 3, 9, 30)] == [300, 600, 1200, 76_800, 86_400]


def test_a_message_names_each_findings_tracking_row_and_stays_version_1(finding):
    refs = [Ref("s", "a"), None, Ref("s", "c", retry=True)]
    bodies = list(message.pack_messages([finding] * 3, max_bytes=20_000, refs=refs))
    read = [message.read(body) for body in bodies]
    assert [ref for _, got in read for ref in got] == refs
    assert all(len(b.encode()) <= 20_000 for b in bodies)
    # A producer's message without the key, or with a broken one, still imports
    assert message.read(message.encode([finding]))[1] == [None]
    broken = '{"version": 1, "findings": [{}], "tracking": "x"}'
    assert message.read(broken) == ([{}], [None])
