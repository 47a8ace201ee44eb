"""The collector's handler on EventBridge events, against moto: one report read by its
Object Created event (and not again by the schedule), an overwritten or deleted object
skipped, a bad event refused in one line; an AWS Health event mapped as the poll maps it."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from hubrelay import tracking
from hubrelay.sources import Context, Record
from hubrelay.sources.health import SCOPE, from_api, from_eventbridge, map_event
from tests.e2e.test_placement_change import REPORT
from tests.integration.collector_env import collector_stack, drain
from tests.support import LambdaContext, load_fixture, load_handler

KEY = "reports/api/scan.json"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with collector_stack(
        monkeypatch, SOURCE="scanner_reports", REPORTS_PREFIX="reports/"
    ) as resources:
        yield resources


def created(key: str, etag: str) -> dict[str, Any]:
    event: dict[str, Any] = load_fixture("events/s3-object-created.json")
    event["detail"]["bucket"]["name"] = "reports"
    event["detail"]["object"].update(key=key, etag=etag)
    return event


def put(body: Any) -> str:
    s3 = boto3.client("s3", region_name="us-east-1")
    etag: str = s3.put_object(Bucket="reports", Key=KEY, Body=json.dumps(body).encode())["ETag"]
    return etag.strip('"')


def invoke(event: Any) -> dict[str, Any]:
    result: dict[str, Any] = load_handler("collector").handler(event, LambdaContext("collector"))
    return result


def test_an_object_created_event_reads_that_report_and_the_schedule_not_again(
    stack: dict[str, str],
) -> None:
    run = invoke(created(KEY, put(REPORT)))
    assert (run["units"], run["enqueued"], run["error"]) == (1, 2, "")
    assert len(drain(stack["queue_url"])) == 2
    backstop = invoke({})
    assert (backstop["units"], backstop["enqueued"]) == (0, 0)


def test_an_event_for_an_overwritten_or_deleted_object_reads_nothing(
    stack: dict[str, str],
) -> None:
    old = put(REPORT)
    put({**REPORT, "ArtifactName": "registry.example.com/api:2"})  # overwritten since
    assert (invoke(created(KEY, old))["units"], drain(stack["queue_url"])) == (0, [])
    boto3.client("s3", region_name="us-east-1").delete_object(Bucket="reports", Key=KEY)
    gone = invoke(created(KEY, old))
    assert (gone["units"], gone["error"]) == (0, "")
    # The schedule still reads whatever is there (here: nothing)
    assert invoke({})["enqueued"] == 0


def test_a_malformed_event_is_one_error_and_kept_in_the_error_report(
    stack: dict[str, str],
) -> None:
    event = created(KEY, "x")
    del event["detail"]["bucket"]
    result = invoke(event)
    assert result["error"] == (
        "EventError: event 17793124-05d4-b198-2fde-7ededc63b103: not a valid S3 Object "
        "Created event: detail.bucket: Field required"
    )
    (written,) = result["errorReports"]
    assert written.startswith("s3://reports/errors/scanner_reports/")
    assert drain(stack["queue_url"]) == []


def test_a_health_event_maps_as_the_poll_maps_it() -> None:
    # The same event from EventBridge and from DescribeEventDetails: one content, so the
    # poll (the backstop) finds what the event sent unchanged.
    event = load_fixture("sources/health_eventbridge.json")[0]
    detail = copy.deepcopy(event["detail"])
    api_event = {
        "arn": detail["eventArn"],
        "service": detail["service"],
        "eventTypeCode": detail["eventTypeCode"],
        "eventTypeCategory": detail["eventTypeCategory"],
        "eventScopeCode": detail["eventScopeCode"],
        "region": detail["eventRegion"],
        "startTime": detail["startTime"],
        "lastUpdatedTime": detail["lastUpdatedTime"],
        "statusCode": detail["statusCode"],
    }
    polled = from_api(
        {
            "event": api_event,
            "eventDescription": {
                "latestDescription": detail["eventDescription"][0]["latestDescription"]
            },
        },
        [{"eventArn": detail["eventArn"], "entityValue": "shop-public-assets"}],
        event["account"],
    )
    ctx = Context(event["account"], ("us-west-2",))
    (by_event,) = map_event(Record(from_eventbridge(event), "e", "health", SCOPE), ctx)
    (by_poll,) = map_event(Record(polled, "p", "health", SCOPE), ctx)
    assert by_event["Id"] == by_poll["Id"]
    assert tracking.content_hash(by_event) == tracking.content_hash(by_poll)
