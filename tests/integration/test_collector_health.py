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
from tests.support import load_fixture

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


PAGED_ARN = (
    "arn:aws:health:eu-west-1::event/ACM/AWS_ACM_RENEWAL_FAILURE/AWS_ACM_RENEWAL_FAILURE_2222"
)
CERTIFICATES = [f"arn:aws:acm:eu-west-1:123456789012:certificate/{n}" for n in ("1111", "3333")]


def _delivered(event: dict[str, Any]) -> dict[str, Any]:
    """One run of the collector's handler on an event EventBridge delivered."""
    from tests.support import LambdaContext, load_handler

    result: dict[str, Any] = load_handler("collector").handler(event, LambdaContext("collector"))
    return result


def test_an_event_in_pages_is_one_finding_with_every_entity_whichever_page_comes_first(
    health_stub: tuple[Stubber, dict[str, str]],
) -> None:
    stub, resources = health_stub
    page_one, page_two = load_fixture("sources/health_eventbridge_pages.json")
    every = {"entities": [{"entityValue": c, "eventArn": PAGED_ARN} for c in CERTIFICATES]}
    for _ in range(2):  # each page asks the API for the event's entities, as the poll does
        stub.add_response(
            "describe_affected_entities", every, {"filter": {"eventArns": [PAGED_ARN]}}
        )
    # When EventBridge delivers the second page first, then the first
    first, second = _delivered(page_two), _delivered(page_one)
    # Then the first delivery sends the finding with both pages' entities, and the second
    # finds it unchanged (mapped alone, each page sent another finding: one entity each)
    (finding,) = drain(resources["queue_url"])
    assert [r["Id"] for r in finding["Resources"]] == CERTIFICATES
    assert (first["error"], first["enqueued"], second["error"], second["enqueued"]) == (
        "",
        1,
        "",
        0,
    )


def test_an_event_in_pages_without_the_health_api_has_its_pages_entities(
    health_stub: tuple[Stubber, dict[str, str]],
) -> None:
    # Given an account whose support plan has no Health API
    stub, resources = health_stub
    stub.add_client_error(
        "describe_affected_entities",
        service_error_code="SubscriptionRequiredException",
        service_message="The AWS Support plan does not include the AWS Health API.",
    )
    page_one = load_fixture("sources/health_eventbridge_pages.json")[0]
    # When a page is delivered, then its finding is sent with the page's own entities
    summary = _delivered(page_one)
    (finding,) = drain(resources["queue_url"])
    assert [r["Id"] for r in finding["Resources"]] == CERTIFICATES[:1]
    assert (summary["error"], summary["enqueued"]) == ("", 1)


def test_an_event_in_one_page_makes_no_health_api_call(
    health_stub: tuple[Stubber, dict[str, str]],
) -> None:
    _, resources = health_stub
    event = load_fixture("sources/health_eventbridge_pages.json")[0]
    event["detail"]["totalPages"] = "1"
    # (the stub has no response: a call would fail the run)
    summary = _delivered(event)
    assert (summary["error"], summary["enqueued"]) == ("", 1)
    assert len(drain(resources["queue_url"])) == 1
