"""The collector's invocation events: its schedule, S3 Object Created through EventBridge,
AWS Health events; anything else is refused with one error naming the event."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hubrelay import triggers
from hubrelay.settings import Settings
from tests.support import load_fixture

REPORTS = Settings(
    source="scanner_reports", reports_bucket="amzn-s3-demo-bucket1", reports_prefix="reports/"
)
HEALTH = Settings(source="health", reports_bucket="amzn-s3-demo-bucket1")


def s3_event() -> dict[str, Any]:
    # The "Object created" example of https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html
    # (a key with a space and parentheses: EventBridge sends it as it is, not URL-encoded).
    event: dict[str, Any] = load_fixture("events/s3-object-created.json")
    return event


def health_event() -> dict[str, Any]:
    event: dict[str, Any] = load_fixture("sources/health_eventbridge.json")[0]
    return event


def test_the_schedule_input_is_a_run_from_the_cursor() -> None:
    assert triggers.parse({}, REPORTS) == triggers.Scheduled()


def test_an_object_created_event_names_one_report() -> None:
    trigger = triggers.parse(s3_event(), REPORTS)
    assert trigger == triggers.ReportCreated(
        "17793124-05d4-b198-2fde-7ededc63b103",
        "amzn-s3-demo-bucket1",
        "reports/shop api/trivy (1).json",
        "b1946ac92492d2347c6235b4d2611184",
        5,
    )


def test_a_health_event_is_taken_as_it_came() -> None:
    event = health_event()
    trigger = triggers.parse(event, HEALTH)
    assert isinstance(trigger, triggers.HealthEvent)
    assert trigger.event_id == "7bf73129-1428-4cd3-a780-95db273d1602"
    assert trigger.event == event


def refusal(event: Any, settings: Settings = REPORTS) -> str:
    with pytest.raises(triggers.EventError) as caught:
        triggers.parse(event, settings)
    return str(caught.value)


def test_a_foreign_event_is_refused_naming_it_and_what_the_collector_reads() -> None:
    foreign = {"id": "e-1", "source": "aws.ec2", "detail-type": "EC2 Instance State", "detail": {}}
    message = refusal(foreign)
    assert message.startswith("event e-1: source 'aws.ec2', detail-type 'EC2 Instance State'")
    assert "'Object Created' of aws.s3" in message
    # A Health event to a collector of reports is foreign to it, and the other way round.
    assert "aws.health" in refusal(health_event())
    assert "'AWS Health Event' of aws.health" in refusal(s3_event(), HEALTH)


def test_a_malformed_object_created_event_names_the_missing_field() -> None:
    event = s3_event()
    del event["detail"]["object"]["key"]
    assert refusal(event) == (
        "event 17793124-05d4-b198-2fde-7ededc63b103: not a valid S3 Object Created event: "
        "detail.object.key: Field required"
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e["detail"]["bucket"].update(name="other"), "bucket 'other' is not the"),
        (lambda e: e["detail"]["object"].update(key="elsewhere/x.json"), "is not under 'reports/'"),
    ],
)
def test_an_object_of_another_bucket_or_prefix_is_refused(change: Any, reason: str) -> None:
    event = s3_event()
    change(event)
    assert reason in refusal(event)


def test_error_reports_are_never_read_as_reports() -> None:
    # With ReportsPrefix empty the rule leaves them out; this holds if one got through.
    settings = Settings(source="scanner_reports", reports_bucket="amzn-s3-demo-bucket1")
    event = s3_event()
    event["detail"]["object"]["key"] = "errors/scanner_reports/2026/12/02/x.json"
    assert "is not under" in refusal(event, settings)


def test_a_health_event_without_its_arn_is_refused() -> None:
    event = copy.deepcopy(health_event())
    del event["detail"]["eventArn"]
    assert refusal(event, HEALTH) == (
        "event 7bf73129-1428-4cd3-a780-95db273d1602: not a valid AWS Health event: "
        "detail.eventArn: Field required"
    )


@pytest.mark.parametrize("event", [[], "text", None, 7])
def test_an_event_that_is_not_an_object_is_refused(event: Any) -> None:
    assert "not a JSON object" in refusal(event)
