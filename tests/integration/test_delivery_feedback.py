"""Delivery feedback through the real handlers (functions/collector/app.py and
functions/importer/app.py) on moto and the Security Hub contract emulator: a finding the
importer could not deliver because the account was not subscribed yet is sent again by a
later collector run, with a backoff per (account, Region), without the source changing."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from hubrelay_emulator import securityhub as hub
from tests import support
from tests.integration.collector_env import collector_stack, run, shift_clock
from tests.support import LambdaContext, load_fixture, sqs_event

ACCOUNT = "123456789012"  # the collector's account (its LambdaContext's ARN)
REGION = "us-east-1"
# A partner product: the account must subscribe to it (EnableImportFindingsForProduct).
PRODUCT = f"arn:aws:securityhub:{REGION}:999999999999:product/acme/scanner"
ImporterContext = functools.partial(LambdaContext, "importer", remaining_ms=120_000)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    contract = hub.install(hub.Contract(clock=lambda: 0.0))
    with collector_stack(
        monkeypatch,
        SOURCE="scanner_reports",
        REPORTS_PREFIX="",
        REGIONS=REGION,
        PRODUCT_ARN=PRODUCT,
    ) as resources:
        sqs = boto3.client("sqs", region_name=REGION)
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        monkeypatch.setenv("HUBRELAY_QUARANTINE_QUEUE_URL", dlq)
        # Security Hub on, but the product not subscribed to yet.
        hub.enable_hub(ACCOUNT, REGION)
        yield {**resources, "contract": contract, "sqs": sqs, "dlq": dlq}
    hub.uninstall()


def import_queue(stack: dict[str, Any]) -> dict[str, Any]:
    """The importer handler over every message on the findings queue (then deleted)."""
    bodies: list[str] = []
    while (
        got := stack["sqs"]
        .receive_message(QueueUrl=stack["queue_url"], MaxNumberOfMessages=10)
        .get("Messages", [])
    ):
        for item in got:
            bodies.append(item["Body"])
            stack["sqs"].delete_message(
                QueueUrl=stack["queue_url"], ReceiptHandle=item["ReceiptHandle"]
            )
    if not bodies:
        return {"findings": 0}
    handler = support.load_handler("importer").handler
    response = handler(sqs_event(bodies), ImporterContext())
    assert response["batchItemFailures"] == []
    return {"findings": sum(len(json.loads(b)["findings"]) for b in bodies)}


def dead_codes(stack: dict[str, Any]) -> list[str]:
    codes: list[str] = []
    while (
        got := stack["sqs"]
        .receive_message(
            QueueUrl=stack["dlq"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        .get("Messages", [])
    ):
        for item in got:
            codes.append(item["MessageAttributes"]["hubrelay.ErrorCode"]["StringValue"])
            stack["sqs"].delete_message(QueueUrl=stack["dlq"], ReceiptHandle=item["ReceiptHandle"])
    return codes


def test_a_finding_refused_until_the_account_subscribes_reaches_security_hub_later(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a scanner report whose findings the importer cannot deliver: the account has
    # not subscribed to the product yet
    report = load_fixture("sources/trivy_image.json")
    boto3.client("s3").put_object(
        Bucket="reports", Key="shop/api/trivy.json", Body=json.dumps(report).encode()
    )
    assert run()["enqueued"] == 4
    assert import_queue(stack)["findings"] == 4
    assert dead_codes(stack) == ["InvalidAccess"] * 4
    assert stack["contract"].findings(ACCOUNT, REGION) == []
    # When the collector runs again within the backoff, it sends nothing
    assert run()["enqueued"] == 0
    # and after it, still unsubscribed, it tries once more and backs off twice as long
    shift_clock(monkeypatch, 301)
    assert run()["enqueued"] == 4
    assert import_queue(stack)["findings"] == 4
    assert dead_codes(stack) == ["InvalidAccess"] * 4
    shift_clock(monkeypatch, 301 + 301)
    assert run()["enqueued"] == 0
    # When the account subscribes and the backoff has passed
    hub.client_for(ACCOUNT, REGION).enable_import_findings_for_product(ProductArn=PRODUCT)
    shift_clock(monkeypatch, 301 + 601)
    summary = run()
    # Then the collector re-sends them, unchanged at the source, and they are imported
    assert summary["records"] == 0  # the report was not read again
    assert summary["actions"] == {"resent": 4}
    assert import_queue(stack)["findings"] == 4
    assert dead_codes(stack) == []
    stored = stack["contract"].findings(ACCOUNT, REGION)
    assert len(stored) == 4
    assert {f["RecordState"] for f in stored} == {"ACTIVE"}
    # And nothing is left to retry: a later run sends nothing
    shift_clock(monkeypatch, 2 * 86_400)
    assert run()["enqueued"] == 0
