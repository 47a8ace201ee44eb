"""The collector section of template.yaml agrees with the code that runs in it."""

from __future__ import annotations

from typing import Any

import pytest

from hubrelay import delivery, tracking
from hubrelay.settings import Settings
from tests.integration.test_template import Resolver, _load, as_list, props


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return _load()


def test_collector_parts_are_off_unless_a_source_is_chosen(template: dict[str, Any]) -> None:
    assert Resolver(template, {}).condition("CollectorEnabled") is False
    assert Resolver(template, {"Source": "scanner_reports"}).condition("CollectorEnabled")
    for logical_id in ("CollectorFunction", "CollectorSchedule", "TrackingTable", "CollectorRole"):
        assert template["Resources"][logical_id]["Condition"] == "CollectorEnabled"


def test_tracking_table_matches_the_tracking_module(template: dict[str, Any]) -> None:
    table = props(template["Resources"]["TrackingTable"])
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    index, retry = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == tracking.RENEWAL_INDEX
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["due", "ls"]
    # The sparse index of rows the importer marked undelivered (hubrelay.delivery).
    assert retry["IndexName"] == delivery.RETRY_INDEX
    assert [k["AttributeName"] for k in retry["KeySchema"]] == ["ur", "nr"]
    assert retry["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    # The AWS managed key by default, the stack's key when KmsKeyArn is given.
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    for parameters, expected in (
        ({}, {"SSEEnabled": True, "SSEType": "KMS"}),
        ({"KmsKeyArn": key}, {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": key}),
    ):
        resolved = Resolver(template, {"Source": "health", **parameters}).resolve(table)
        assert resolved["SSESpecification"] == expected


def test_collector_environment_sets_the_settings_it_reads(template: dict[str, Any]) -> None:
    resolver = Resolver(template, {"Source": "vendor_api", "Regions": ""})
    variables = resolver.resolve(props(template["Resources"]["CollectorFunction"]))["Environment"][
        "Variables"
    ]
    settings = Settings.from_env(
        {k: str(v) for k, v in variables.items()} | {"AWS_REGION": "us-east-1"}
    )
    assert settings.source == "vendor_api"
    assert settings.region_list() == ("us-east-1",)  # empty Regions = the stack's Region
    assert settings.reports_bucket == "<ReportsBucket>"  # created when no bucket is given
    assert variables["POWERTOOLS_SERVICE_NAME"] == "hubrelay-collector"


def test_schedule_invokes_only_the_collector_and_is_not_retried(template: dict[str, Any]) -> None:
    schedule = props(template["Resources"]["CollectorSchedule"])
    # By default the polled vendor API every minute; reports and Health events come through
    # EventBridge, and every 5 minutes is their backstop.
    assert template["Parameters"]["ScheduleExpression"]["Default"] == ""
    for source, expected in (
        ("vendor_api", "rate(1 minute)"),
        ("scanner_reports", "rate(5 minutes)"),
        ("health", "rate(5 minutes)"),
    ):
        resolver = Resolver(template, {"Source": source})
        assert resolver.resolve(schedule["ScheduleExpression"]) == expected
    chosen = Resolver(template, {"Source": "vendor_api", "ScheduleExpression": "rate(2 hours)"})
    assert chosen.resolve(schedule["ScheduleExpression"]) == "rate(2 hours)"
    assert schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    role = props(template["Resources"]["CollectorSchedulerRole"])
    statements = [s for p in role["Policies"] for s in as_list(p["PolicyDocument"]["Statement"])]
    assert statements == [
        {
            "Sid": "InvokeCollector",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": {"Fn::GetAtt": ["CollectorFunction", "Arn"]},
        }
    ]


@pytest.mark.parametrize(
    ("parameters", "sids"),
    [
        ({"Source": "scanner_reports"}, set()),
        ({"Source": "health"}, {"ListHealthEvents", "ReadHealthEvents"}),
        (
            {
                "Source": "vendor_api",
                "VendorSecretArn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:t-AbC",
            },
            {"ReadVendorToken"},
        ),
    ],
)
def test_source_specific_permissions_exist_only_for_their_source(
    template: dict[str, Any], parameters: dict[str, str], sids: set[str]
) -> None:
    resolver = Resolver(template, parameters)
    role = resolver.resolve(props(template["Resources"]["CollectorRole"]))
    granted = {
        s.get("Sid")
        for p in role["Policies"]
        for s in as_list(p["PolicyDocument"]["Statement"])
        if isinstance(s, dict)
    }
    optional = {"ListHealthEvents", "ReadHealthEvents", "ReadVendorToken"}
    assert granted & optional == sids
    star = [
        s
        for p in role["Policies"]
        for s in as_list(p["PolicyDocument"]["Statement"])
        if isinstance(s, dict) and s.get("Resource") == "*"
    ]
    # Resource "*" only where the action accepts nothing else.
    assert {a for s in star for a in as_list(s["Action"])} <= {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "health:DescribeEvents",
    }


def test_importer_may_still_archive_under_the_private_default_after_a_switch_to_a_partner(
    make_stack: Any,
) -> None:
    # Given a stack switched from the private default product to a partner's ProductArn
    from hubrelay_emulator.demo import PARTNER_PRODUCT

    stack = make_stack(ProductArn=PARTNER_PRODUCT)
    account = stack.account
    # Then the importer may still send (archive) what it sent under the default product,
    # in every Region, and no other account's default product
    for region in ("us-east-1", "eu-west-1"):
        default = f"arn:aws:securityhub:{region}:{account}:product/{account}/default"
        (call,) = stack.checker.check("ImporterRole", "securityhub:BatchImportFindings", [default])
        assert call.allowed, default
    other = "arn:aws:securityhub:us-east-1:111111111111:product/111111111111/default"
    (call,) = stack.checker.check("ImporterRole", "securityhub:BatchImportFindings", [other])
    assert not call.allowed


def _collector(template: dict[str, Any], parameters: dict[str, str]) -> tuple[Any, Any]:
    resolver = Resolver(template, {"Source": "vendor_api", **parameters})
    role = resolver.resolve(props(template["Resources"]["CollectorRole"]))
    statements = {
        s["Sid"]: s
        for p in role["Policies"]
        for s in as_list(p["PolicyDocument"]["Statement"])
        if isinstance(s, dict)
    }
    function = resolver.resolve(props(template["Resources"]["CollectorFunction"]))
    return statements, function["Environment"]["Variables"]


@pytest.mark.parametrize(
    ("mapping", "variable", "sid", "action", "resource"),
    [
        (
            "/hubrelay/vendor-mapping",
            "ssm:/hubrelay/vendor-mapping",
            "ReadVendorMappingParameter",
            "ssm:GetParameter",
            "arn:aws:ssm:us-east-1:111122223333:parameter/hubrelay/vendor-mapping",
        ),
        (
            "s3://acme-config/hubrelay/mapping.json",
            "s3://acme-config/hubrelay/mapping.json",
            "ReadVendorMappingObject",
            "s3:GetObject",
            "arn:aws:s3:::acme-config/hubrelay/mapping.json",
        ),
    ],
    ids=["ssm", "s3"],
)
def test_the_vendor_mapping_parameter_reaches_the_collector_with_only_its_permission(
    template: dict[str, Any], mapping: str, variable: str, sid: str, action: str, resource: str
) -> None:
    statements, variables = _collector(template, {"VendorMapping": mapping})
    # The collector is told where the mapping is, in the form hubrelay.sources.mapping_store reads
    assert variables["HUBRELAY_VENDOR_MAPPING"] == variable
    assert Settings.from_env({"HUBRELAY_VENDOR_MAPPING": variable}).vendor_mapping == variable
    # And may read that one parameter or object and nothing else
    assert statements[sid]["Action"] == action
    assert statements[sid]["Resource"] == resource
    other = {"ReadVendorMappingParameter", "ReadVendorMappingObject"} - {sid}
    assert not other & set(statements)


def test_without_a_vendor_mapping_the_built_in_one_is_used_and_nothing_is_granted(
    template: dict[str, Any],
) -> None:
    statements, variables = _collector(template, {})
    assert variables["HUBRELAY_VENDOR_MAPPING"] == ""
    assert not {"ReadVendorMappingParameter", "ReadVendorMappingObject"} & set(statements)
    # Nor for another source, whatever the parameter says
    resolver = Resolver(template, {"Source": "health", "VendorMapping": "/x"})
    assert not resolver.condition("VendorMappingInSsm")
