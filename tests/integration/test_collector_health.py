"""The collector over AWS Health (a real boto3 client driven by botocore's Stubber, since
moto lacks Health) with moto's SQS and DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from hubrelay import asff, aws
from tests.integration.collector_env import collector_stack, drain, run

S3_ARN = "arn:aws:health:us-east-1::event/S3/AWS_S3_OPEN_ACCESS_BUCKET_NOTIFICATION/AWS_S3_1"
IAM_ARN = "arn:aws:health:global::event/IAM/AWS_IAM_SECURITY_NOTIFICATION/AWS_IAM_2"
EC2_ARN = "arn:aws:health:us-east-1::event/EC2/AWS_EC2_MAINTENANCE/AWS_EC2_3"
T1 = datetime(2026, 10, 30, 8, 0, tzinfo=UTC)
T2 = datetime(2026, 10, 30, 9, 0, tzinfo=UTC)


def summary(arn: str, service: str, code: str, updated: datetime) -> dict[str, Any]:
    return {
        "arn": arn,
        "service": service,
        "eventTypeCode": code,
        "region": arn.split(":")[3],
        "startTime": T1,
        "lastUpdatedTime": updated,
        "statusCode": "open",
        "eventTypeCategory": "issue",
    }


EVENTS = [
    summary(EC2_ARN, "EC2", "AWS_EC2_MAINTENANCE", T1),
    summary(IAM_ARN, "IAM", "AWS_IAM_SECURITY_NOTIFICATION", T2),
    summary(S3_ARN, "S3", "AWS_S3_OPEN_ACCESS_BUCKET_NOTIFICATION", T1),
]


def expect_one_pass(stub: Stubber, since: datetime | None, events: list[dict[str, Any]]) -> None:
    event_filter = {"lastUpdatedTimes": [{"from": since}]} if since else {}
    stub.add_response("describe_events", {"events": events}, {"filter": event_filter})
    security = sorted(
        (e for e in events if e["service"] != "EC2"), key=lambda e: (e["lastUpdatedTime"], e["arn"])
    )
    if not security:
        return
    arns = [e["arn"] for e in security]
    stub.add_response(
        "describe_event_details",
        {
            "successfulSet": [
                {
                    "event": e,
                    "eventDescription": {"latestDescription": f"About {e['eventTypeCode']}."},
                }
                for e in security
            ],
            "failedSet": [],
        },
        {"eventArns": arns},
    )
    stub.add_response(
        "describe_affected_entities",
        {"entities": [{"entityValue": "shop-public-assets", "eventArn": S3_ARN}]},
        {"filter": {"eventArns": arns}},
    )


@pytest.fixture
def health_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stubber, dict[str, str]]]:
    with collector_stack(monkeypatch, SOURCE="health", REGIONS="us-east-1,eu-west-1") as resources:
        client = boto3.client("health", region_name="us-east-1")
        real_client = aws.client
        # Undone before the stack is torn down, which resets the real client's cache.
        with monkeypatch.context() as patch, Stubber(client) as stub:
            patch.setattr(
                aws,
                "client",
                lambda service, region=None: (
                    client if service == "health" else real_client(service, region)
                ),
            )
            yield stub, resources
            stub.assert_no_pending_responses()


def test_security_events_are_collected_mapped_and_not_resent(
    health_stub: tuple[Stubber, dict[str, str]],
) -> None:
    stub, resources = health_stub
    expect_one_pass(stub, None, EVENTS)
    first = run()
    findings = drain(resources["queue_url"])
    assert first["error"] == ""
    by_code = {f["GeneratorId"]: f for f in findings}
    assert set(by_code) == {
        "AWS_S3_OPEN_ACCESS_BUCKET_NOTIFICATION",
        "AWS_IAM_SECURITY_NOTIFICATION",
    }
    s3 = by_code["AWS_S3_OPEN_ACCESS_BUCKET_NOTIFICATION"]
    assert s3["Severity"]["Label"] == "CRITICAL"
    assert s3["Resources"][0]["Id"] == "shop-public-assets"
    iam = by_code["AWS_IAM_SECURITY_NOTIFICATION"]
    # A global event goes to the Region "Available AWS service integrations" names for it.
    assert asff.region_of(iam["ProductArn"]) == "us-east-1"
    assert all(asff.validate_finding(f) == [] for f in findings)
    # Next run: only events updated since the watermark (inclusive), all unchanged.
    expect_one_pass(stub, T2, [EVENTS[1]])
    second = run()
    assert second["enqueued"] == 0
    assert drain(resources["queue_url"]) == []
