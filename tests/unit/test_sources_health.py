"""AWS Health -> ASFF as "Available AWS service integrations" in the Security Hub user guide
states it (https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-internal-providers.html):
the table, the severity rules row by row, the filter."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from hubrelay import asff
from hubrelay.sources import Context, Record, health
from tests.support import load_fixture

CTX = Context("123456789012", ("us-east-1", "us-west-2"), "", datetime(2026, 11, 1, tzinfo=UTC))
ARN = "arn:aws:health:us-west-2::event/{service}/{code}/{code}_abc123"


def event_record(service: str, code: str, **event: Any) -> Record:
    native = {
        "account": "123456789012",
        "time": event.pop("time", 1793270400),
        "description": event.pop("description", "Something happened."),
        "entities": event.pop("entities", []),
        "event": {
            "arn": ARN.format(service=service, code=code),
            "service": service,
            "eventTypeCode": code,
            "region": "us-west-2",
            "startTime": 1793260000,
            "statusCode": "open",
            **event,
        },
    }
    return Record(native, "test", "health", health.SCOPE)


def mapped(service: str, code: str, **event: Any) -> list[dict[str, Any]]:
    return health.map_event(event_record(service, code, **event), CTX)


@pytest.mark.parametrize(
    ("service", "code", "label"),
    [
        # CRITICAL: service Risk, or one of three type codes
        ("RISK", "AWS_RISK_CREDENTIALS_EXPOSED", "CRITICAL"),
        ("Risk", "AWS_RISK_ANYTHING", "CRITICAL"),
        ("S3", "AWS_S3_OPEN_ACCESS_BUCKET_NOTIFICATION", "CRITICAL"),
        (
            "SHIELD",
            "AWS_SHIELD_INTERNET_TRAFFIC_LIMITATIONS_PLACED_IN_RESPONSE_TO_DDOS_ATTACK",
            "CRITICAL",
        ),
        (
            "SHIELD",
            "AWS_SHIELD_IS_RESPONDING_TO_A_DDOS_ATTACK_AGAINST_YOUR_AWS_RESOURCES",
            "CRITICAL",
        ),
        # HIGH: service Abuse, or the code contains SECURITY_NOTIFICATION / ABUSE_DETECTION
        ("ABUSE", "AWS_ABUSE_DOS_REPORT", "HIGH"),
        ("EC2", "AWS_EC2_SECURITY_NOTIFICATION", "HIGH"),
        ("LAMBDA", "AWS_LAMBDA_ABUSE_DETECTION_EVENT", "HIGH"),
        # MEDIUM: a service of the list, or the code contains CERTIFICATE / END_OF_SUPPORT
        ("ACM", "AWS_ACM_RENEWAL_STATE_CHANGE", "MEDIUM"),
        ("GUARDDUTY", "AWS_GUARDDUTY_OPERATIONAL_ISSUE", "MEDIUM"),
        ("INSPECTOR2", "AWS_INSPECTOR2_OPERATIONAL_NOTIFICATION", "MEDIUM"),
        ("RESILIENCEHUB", "AWS_RESILIENCEHUB_OPERATIONAL_NOTIFICATION", "MEDIUM"),
        ("ELASTICLOADBALANCING", "AWS_ELB_CERTIFICATE_EXPIRING", "MEDIUM"),
        ("IAM", "AWS_IAM_END_OF_SUPPORT_NOTICE", "MEDIUM"),
        # The rules are checked in order: the first that matches wins.
        ("IAM", "AWS_IAM_SECURITY_NOTIFICATION", "HIGH"),
        ("RISK", "AWS_RISK_CERTIFICATE_EXPOSED", "CRITICAL"),
    ],
)
def test_severity_rules_row_by_row(service: str, code: str, label: str) -> None:
    (finding,) = mapped(service, code)
    assert finding["Severity"]["Label"] == label
    assert finding["FindingProviderFields"]["Severity"]["Label"] == label


@pytest.mark.parametrize(
    ("service", "code", "sent"),
    [
        ("EC2", "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED", False),
        (
            "LAMBDA",
            "AWS_LAMBDA_RUNTIME_END_OF_SUPPORT",
            False,
        ),  # END_OF_SUPPORT alone: not security
        ("RDS", "AWS_RDS_CERTIFICATE_ROTATION", True),  # "certificate" in the type code
        ("EC2", "AWS_EC2_SECURITY_GROUP_CHANGE", True),  # "security"
        ("SES", "AWS_SES_CMF_PENDING_TO_SUCCESS", True),  # a security service (the guide's example)
        ("KMS", "AWS_KMS_KEY_ROTATION", True),
    ],
)
def test_only_security_related_events_become_findings(service: str, code: str, sent: bool) -> None:
    assert bool(mapped(service, code)) is sent


def test_table_fields() -> None:
    (finding,) = mapped(
        "SES", "AWS_SES_CMF_PENDING_TO_SUCCESS", entities=[{"entityValue": "cmf.example.com"}]
    )
    start = asff.timestamp(datetime.fromtimestamp(1793260000, UTC))
    digest = hashlib.sha256(start.encode()).hexdigest().upper()
    assert finding["Id"] == (
        "arn:aws:health:us-west-2:123456789012:event/SES/AWS_SES_CMF_PENDING_TO_SUCCESS/"
        f"AWS_SES_CMF_PENDING_TO_SUCCESS_abc123/{digest}"
    )
    assert finding["GeneratorId"] == "AWS_SES_CMF_PENDING_TO_SUCCESS"
    assert finding["Title"] == "AWS Health - AWS_SES_CMF_PENDING_TO_SUCCESS"
    assert finding["Types"] == ["Software and Configuration Checks"]
    assert finding["CreatedAt"] == start
    assert finding["UpdatedAt"] == asff.timestamp(datetime.fromtimestamp(1793270400, UTC))
    assert finding["Resources"] == [
        {"Type": "Other", "Id": "cmf.example.com", "Region": "us-west-2"}
    ]
    assert finding["SourceUrl"] == (
        "https://phd.aws.amazon.com/phd/home#/event-log?eventID="
        + ARN.format(service="SES", code="AWS_SES_CMF_PENDING_TO_SUCCESS")
    )
    assert finding["AwsAccountId"] == "123456789012"
    assert finding["ProductArn"] == CTX.product_arn_in("us-west-2")
    assert asff.validate_finding(finding) == []


def test_without_entities_the_account_is_the_resource() -> None:
    (finding,) = mapped("IAM", "AWS_IAM_SECURITY_NOTIFICATION")
    assert [r["Id"] for r in finding["Resources"]] == ["123456789012"]


def test_long_description_is_cut_to_1024_ending_in_truncated() -> None:
    (finding,) = mapped("IAM", "AWS_IAM_SECURITY_NOTIFICATION", description="word " * 1000)
    assert len(finding["Description"]) == 1024
    assert finding["Description"].endswith("(truncated)")


def test_the_start_time_hash_separates_recurrences() -> None:
    (first,) = mapped("IAM", "AWS_IAM_SECURITY_NOTIFICATION")
    (again,) = mapped("IAM", "AWS_IAM_SECURITY_NOTIFICATION", startTime=1793360000)
    assert first["Id"] != again["Id"]


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        ("arn:aws:health:global::event/IAM/X_SECURITY/X_1", "us-east-1"),
        ("arn:aws-cn:health:global::event/IAM/X_SECURITY/X_1", "cn-northwest-1"),
        ("arn:aws-us-gov:health:global::event/IAM/X_SECURITY/X_1", "us-gov-west-1"),
        ("arn:aws:health:eu-west-1::event/IAM/X_SECURITY/X_1", "eu-west-1"),
    ],
)
def test_global_events_go_to_the_pages_region_for_the_partition(arn: str, expected: str) -> None:
    record = event_record("IAM", "X_SECURITY", arn=arn, region="")
    (finding,) = health.map_event(record, Context("123456789012", (expected,), ""))
    assert {r["Region"] for r in finding["Resources"]} == {expected}
    assert asff.region_of(finding["ProductArn"]) == expected


def test_eventbridge_events_with_rfc1123_times_map_like_the_api() -> None:
    events = load_fixture("sources/health_eventbridge.json")
    findings = [
        f
        for e in events
        for f in health.map_event(
            Record(health.from_eventbridge(e), "x", "health", health.SCOPE), CTX
        )
    ]
    s3, iam = findings  # the EC2 maintenance event is not security related
    assert s3["Severity"]["Label"] == "CRITICAL"
    assert s3["CreatedAt"] == "2026-10-29T08:15:00.000Z"
    assert s3["UpdatedAt"] == "2026-10-30T12:00:00.000Z"
    assert s3["Resources"] == [{"Type": "Other", "Id": "shop-public-assets", "Region": "us-west-2"}]
    assert iam["Severity"]["Label"] == "HIGH"
    assert iam["Resources"][0]["Region"] == "us-east-1"


def test_a_closed_event_is_resolved() -> None:
    (finding,) = mapped("IAM", "AWS_IAM_SECURITY_NOTIFICATION", statusCode="closed")
    assert finding["RecordState"] == "ARCHIVED"
