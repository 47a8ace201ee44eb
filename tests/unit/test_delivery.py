"""Delivery feedback in the importer: a finding quarantined for an outside cause is marked
undelivered in a mark item of its own, which counts while tracking records the send it
names (moto DynamoDB, the Security Hub contract emulator)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace
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
    """The finding's mark item ({} when there is none)."""
    key = {"pk": {"S": "u#shop/api"}, "sk": {"S": "scanner/finding-1"}}
    item: dict[str, Any] = env["dynamodb"].get_item(TableName="tracking", Key=key).get("Item", {})
    return item


def marked(env: dict[str, Any], now: float = 2e9) -> dict[str, Any]:
    """The tracked state of the finding, with the marks the collector's sweep gives it."""
    store = Store(env["dynamodb"], "tracking")
    assert store.undelivered(now, 10) == [("shop/api", "scanner/finding-1")]
    return {"store": store, "state": store.load("shop/api", ["scanner/finding-1"])}


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
    assert item["u"] == {"S": sent["UpdatedAt"]}
    assert Store(env["dynamodb"], "tracking").undelivered(float(item["nr"]["N"]), 10) == [
        ("shop/api", "scanner/finding-1")
    ]
    # and the collector's sweep reads the state with the Region it did not reach; once the
    # state is saved again the mark is out of the retry index
    found = marked(env)
    state = found["state"]["scanner/finding-1"]
    assert state.undelivered == frozenset({REGION})
    found["store"].save([replace(state, undelivered=frozenset())])
    assert "ur" not in row(env)
    assert Store(env["dynamodb"], "tracking").undelivered(2e9, 10) == []


def test_a_finding_refused_as_invalid_is_not_marked(env, finding):
    # Given a tracked send that Security Hub refuses as invalid input
    sent = tracked_send(env, finding, samples.SUBSCRIBED[0])
    env["contract"].inject("failed_findings", ids=[sent["Id"]], error_code="InvalidInput")
    # When the importer quarantines it
    outcome = run_importer(env, sent)
    # Then tracking is not told: only a change of the finding sends it again
    assert outcome.reasons() == {"InvalidInput": 1}
    assert row(env) == {}


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
    # When the importer quarantines the newer send, then the older one
    newer_sent = {**replanned.sends[0]}
    assert run_importer(env, newer_sent).feedback.marked == 1
    outcome = run_importer(env, old)
    # Then the mark stays that of the newer send
    assert outcome.reasons() == {"InvalidAccess": 1}
    assert outcome.feedback.superseded == 1
    assert outcome.feedback.marked == 0
    assert row(env)["u"]["S"] == replanned.state.updated_at
    assert marked(env)["state"]["scanner/finding-1"].undelivered == frozenset({REGION})


def test_a_mark_of_an_older_send_is_stale_and_cleared(env, finding):
    # Given a send that failed and was marked, then a newer send of the same finding saved
    old = tracked_send(env, finding, samples.UNSUBSCRIBED)
    assert run_importer(env, old).feedback.marked == 1
    state = Store(env["dynamodb"], "tracking").load("shop/api", ["scanner/finding-1"])
    ctx = Context(samples.UNSUBSCRIBED, (REGION,), PARTNER, T0 + timedelta(hours=1))
    source = {**old, "Title": "changed", "Id": "scanner/finding-1"}
    replanned = plan(source, "shop/api", state["scanner/finding-1"], ctx, Policy())
    assert replanned.state is not None
    Store(env["dynamodb"], "tracking").save([replanned.state])
    # When the collector's sweep reads the mark
    found = marked(env)
    # Then the state is not given it (the newer send was not refused), and saving the
    # state takes the mark out of the retry index
    state_now = found["state"]["scanner/finding-1"]
    assert state_now.undelivered == frozenset()
    found["store"].save([state_now])
    assert Store(env["dynamodb"], "tracking").undelivered(2e9, 10) == []


def test_a_send_not_yet_recorded_is_marked_and_counts_once_recorded(env, finding):
    # Given a send enqueued but not saved yet (the collector saves after enqueueing)
    source = {**copy.deepcopy(finding), "Id": "scanner/finding-1"}
    source["AwsAccountId"] = samples.UNSUBSCRIBED
    source["Resources"] = [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b", "Region": REGION}]
    ctx = Context(samples.UNSUBSCRIBED, (REGION,), PARTNER, T0)
    planned = plan(source, "shop/api", None, ctx, Policy())
    assert planned.state is not None
    # When the importer quarantines it, and then the collector saves the state
    outcome = run_importer(env, planned.sends[0])
    assert outcome.failed_messages == set()
    assert outcome.feedback.marked == 1
    Store(env["dynamodb"], "tracking").save([planned.state])
    # Then the mark counts: the sweep re-sends it to the Region it did not reach
    assert marked(env)["state"]["scanner/finding-1"].undelivered == frozenset({REGION})


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
