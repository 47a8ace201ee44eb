"""Files of AWS Health events as `hubrelay convert` reads them: EventBridge "aws.health"
events of every category and scope, and the Health API's output as the AWS CLI writes it
(DescribeEvents, DescribeEventDetails, their ForOrganization forms)."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hubrelay.sources import Context, files
from tests.support import load_fixture

CTX = Context(
    "123456789012", ("us-east-1", "eu-west-1", "us-west-2"), "", datetime(2026, 11, 1, tzinfo=UTC)
)
IAM_ARN = (
    "arn:aws:health:global::event/IAM/AWS_IAM_SECURITY_NOTIFICATION/"
    "AWS_IAM_SECURITY_NOTIFICATION_1a2b3c4d"
)


def convert(name: str, fmt: str | None = None) -> tuple[list[dict[str, Any]], list[Any]]:
    records, errors = files.read_records(load_fixture(f"sources/{name}"), fmt, name)
    findings, problems = files.map_records(records, CTX)
    return findings, errors + problems


@pytest.mark.parametrize("fmt", [None, "health"])
@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("health_api_describe_events.json", 2),  # the EC2 issue is no security event
        ("health_api_event_details.json", 1),
        ("health_org_event_details.json", 1),
        ("health_eventbridge_closed_later.json", 1),
        ("health_eventbridge_pages.json", 1),
        ("health_eventbridge_scopes.json", 3),
        ("health_eventbridge.json", 2),
    ],
)
def test_every_health_file_form_converts_with_one_finding_per_id(
    name: str, count: int, fmt: str | None
) -> None:
    findings, errors = convert(name, fmt)
    assert [e for e in errors if "failedSet" not in e[0]] == []
    assert len(findings) == count
    assert max(Counter(f["Id"] for f in findings).values()) == 1


def test_describe_events_and_event_details_give_the_same_id() -> None:
    events, _ = convert("health_api_describe_events.json")
    details, _ = convert("health_api_event_details.json")
    iam = next(f for f in events if f["GeneratorId"] == "AWS_IAM_SECURITY_NOTIFICATION")
    assert iam["Id"] == details[0]["Id"]
    assert iam["Id"].startswith(IAM_ARN.replace("global::", "global:123456789012:") + "/")
    # a global event goes to us-east-1 (the aws partition's), the event details' text kept
    assert iam["Resources"] == [{"Type": "Other", "Id": "123456789012", "Region": "us-east-1"}]
    assert details[0]["Description"].startswith("We detected that the access key")


def test_epoch_times_of_the_api_json_are_read() -> None:
    events, _ = convert("health_api_describe_events.json")
    acm = next(f for f in events if f["GeneratorId"] == "AWS_ACM_RENEWAL_STATE_CHANGE")
    assert acm["CreatedAt"] == "2026-11-17T07:20:00.000Z"
    assert acm["ProductFields"]["hubrelay/health/statusCode"] == "upcoming"
    assert acm["RecordState"] == "ACTIVE"


def test_organization_details_name_the_affected_account_and_failures_are_errors() -> None:
    findings, errors = convert("health_org_event_details.json")
    assert findings[0]["AwsAccountId"] == "210987654321"
    assert ":210987654321:event/GUARDDUTY/" in findings[0]["Id"]
    assert errors == [("health_org_event_details.json#failedSet[0]", "NotFound: event not found")]


def test_an_event_closed_later_in_the_file_is_one_resolved_finding_with_the_same_id() -> None:
    events = load_fixture("sources/health_eventbridge_closed_later.json")
    alone, _ = files.map_records(files.read_records(events[:1], None, "open")[0], CTX)
    findings, _ = convert("health_eventbridge_closed_later.json")
    assert [f["Id"] for f in findings] == [alone[0]["Id"]]
    assert findings[0]["RecordState"] == "ARCHIVED"
    assert findings[0]["Description"] == "The exposed access key was deactivated."
    assert findings[0]["Severity"]["Label"] == "CRITICAL"
    # whatever the order the events are in
    reversed_, _ = files.map_records(files.read_records(events[::-1], None, "r")[0], CTX)
    assert [(f["Id"], f["RecordState"]) for f in reversed_] == [(alone[0]["Id"], "ARCHIVED")]


def test_the_pages_of_one_event_are_one_finding_with_every_entity() -> None:
    findings, _ = convert("health_eventbridge_pages.json")
    assert [r["Id"] for r in findings[0]["Resources"]] == [
        "arn:aws:acm:eu-west-1:123456789012:certificate/1111",
        "arn:aws:acm:eu-west-1:123456789012:certificate/3333",
    ]
    assert {r["Region"] for r in findings[0]["Resources"]} == {"eu-west-1"}


def test_public_none_scoped_and_abuse_events() -> None:
    findings, _ = convert("health_eventbridge_scopes.json")
    by_code = {f["GeneratorId"]: f for f in findings}
    public = by_code["AWS_KMS_OPERATIONAL_ISSUE"]
    assert public["ProductFields"]["hubrelay/health/eventScopeCode"] == "PUBLIC"
    assert public["Resources"][0]["Id"] == "123456789012"
    investigation = by_code["AWS_SECURITY_NOTIFICATION"]
    assert investigation["ProductFields"]["hubrelay/health/eventTypeCategory"] == "investigation"
    assert investigation["Description"] == "We are investigating."  # the en_US text
    abuse = by_code["AWS_ABUSE_DOS_REPORT"]
    assert [r["Id"] for r in abuse["Resources"]] == ["i-0123456789abcdef0"]  # not UNKNOWN
    assert abuse["Severity"]["Label"] == "HIGH"


def test_a_health_file_with_a_bom_converts(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    text = json.dumps(load_fixture("sources/health_eventbridge_scopes.json"), ensure_ascii=False)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    records, errors = files.read_file(str(path), None)
    assert errors == []
    assert len(files.map_records(records, CTX)[0]) == 3


def test_an_empty_describe_events_page_is_no_finding_and_no_error() -> None:
    assert files.read_records({"events": []}, None, "empty") == ([], [])
    assert files.read_records({"successfulSet": [], "failedSet": []}, None, "empty") == ([], [])


def test_events_back_to_back_as_firehose_writes_them_convert(tmp_path: Path) -> None:
    # EventBridge -> Amazon Data Firehose -> S3 writes the events one after another
    events = load_fixture("sources/health_eventbridge_closed_later.json")
    events += load_fixture("sources/health_eventbridge_pages.json")
    path = tmp_path / "firehose.json"
    path.write_text("".join(json.dumps(e) for e in events))
    records, errors = files.read_file(str(path), None)
    findings = files.map_records(records, CTX)[0]
    assert errors == []
    assert [(f["GeneratorId"], f["RecordState"], len(f["Resources"])) for f in findings] == [
        ("AWS_RISK_CREDENTIALS_EXPOSED", "ARCHIVED", 1),
        ("AWS_ACM_RENEWAL_FAILURE", "ACTIVE", 2),
    ]


def test_an_eventbridge_event_without_a_detail_object_is_its_own_error() -> None:
    # One broken event of a file is an error of its own: the file's other events convert
    events = load_fixture("sources/health_eventbridge_scopes.json")
    events.insert(1, {"source": "aws.health", "detail-type": "AWS Health Event", "detail": None})
    records, errors = files.read_records(events, None, "f.json")
    findings, problems = files.map_records(records, CTX)
    assert len(findings) == 3
    assert [(p, r) for p, r in errors + problems] == [
        ("f.json#[1]", "EventBridge event has no detail")
    ]


def test_many_pages_of_one_event_merge_in_linear_time() -> None:
    # Each page's entities are added to the event's list, not the list copied per page
    # (20,000 pages of 20 entities took 25 s so; the pages' documents are left as read)
    page = load_fixture("sources/health_eventbridge_pages.json")[0]
    events = []
    for i in range(20_000):
        detail = {
            **page["detail"],
            "affectedEntities": [{"entityValue": f"i-{i}-{j}"} for j in range(20)],
        }
        events.append({**page, "detail": detail})
    started = time.perf_counter()
    records, errors = files.read_records(events, None, "f.json")
    assert time.perf_counter() - started < 5
    assert errors == []
    assert len(records) == 1
    assert len(records[0].native["entities"]) == 400_000
    assert [len(e["detail"]["affectedEntities"]) for e in events[:2]] == [20, 20]
