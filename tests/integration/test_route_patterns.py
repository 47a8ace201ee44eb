"""template.yaml's route-out rules, checked with the documented EventBridge semantics
(hubrelay_emulator.eventpattern), not moto's matcher."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from hubrelay.routing import RouteConfig, decide
from hubrelay.settings import Settings, auto_route_window_minutes
from hubrelay_emulator import cfn
from hubrelay_emulator.eventpattern import matches
from tests.support import load_fixture

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
ACCOUNT = "111111111111"
ACTIONS = {
    "WebhookActionTarget": f"arn:aws:securityhub:us-east-1:{ACCOUNT}:action/custom/hubrelayHook",
    "SnsActionTarget": f"arn:aws:securityhub:us-east-1:{ACCOUNT}:action/custom/hubrelaySns",
    "OpsCenterActionTarget": f"arn:aws:securityhub:us-east-1:{ACCOUNT}:action/custom/hubrelayOps",
    "VendorActionTarget": f"arn:aws:securityhub:us-east-1:{ACCOUNT}:action/custom/hubrelayVndr",
}
ALL_ON = {
    "EnableWebhook": "true",
    "WebhookSecretName": "hubrelay/webhook",
    "EnableSns": "true",
    "EnableOpsCenter": "true",
    "EnableVendorBackSync": "true",
    "BackSyncSecretName": "hubrelay/vendor",
    "BackSyncApiUrl": "https://api.example.com",
    "AutoRoute": "true",
}


@cache
def _template() -> dict[str, Any]:
    return cfn.load(TEMPLATE)


def resolver(overrides: dict[str, str], region: str = "us-east-1") -> cfn.Resolver:
    template = copy.deepcopy(_template())
    resolved = cfn.Resolver.create(
        template,
        {**ALL_ON, **overrides},
        region=region,
        account=ACCOUNT,
        stack_name="hubrelay-test",
        resolve_ssm=lambda name: "arn:aws:lambda:us-east-1:017000801446:layer:powertools:1",
    )
    for logical_id, arn in ACTIONS.items():
        resolved.attributes[logical_id] = {"Ref": arn, "ActionTargetArn": arn}
    # Other resources as CloudFormation would name them.
    for logical_id in ("NotificationTopic", "IdempotencyTable", "ResponderDeadLetterQueue"):
        resolved.attributes[logical_id] = {"Ref": f"<{logical_id}>"}
    return resolved


def rule_pattern(overrides: dict[str, str], rule: str) -> dict[str, Any]:
    resolved = resolver(overrides)
    spec = resolved.template["Resources"][rule]
    assert resolved.condition(spec["Condition"]), f"{rule} is not created"
    pattern: dict[str, Any] = resolved.resolve(spec["Properties"]["EventPattern"])
    return pattern


def auto_route_pattern(overrides: dict[str, str]) -> dict[str, Any]:
    return rule_pattern(overrides, "AutoRouteRule")


def custom_action(arn: str) -> dict[str, Any]:
    event = copy.deepcopy(load_fixture("events/custom-action-multi.json"))
    event["resources"] = [arn]
    return event


@pytest.mark.parametrize(
    ("rule", "target"),
    [
        ("WebhookActionRule", "WebhookActionTarget"),
        ("SnsActionRule", "SnsActionTarget"),
        ("OpsCenterActionRule", "OpsCenterActionTarget"),
        ("VendorActionRule", "VendorActionTarget"),
    ],
)
def test_each_action_rule_matches_only_its_own_action(rule, target):
    pattern = rule_pattern({}, rule)
    assert matches(pattern, custom_action(ACTIONS[target]))
    for other, arn in ACTIONS.items():
        if other != target:
            assert not matches(pattern, custom_action(arn))
    foreign = ACTIONS[target].replace(ACCOUNT, "999999999999")
    assert not matches(pattern, custom_action(foreign))
    spoofed = dict(custom_action(ACTIONS[target]), source="custom.securityhub")
    assert not matches(pattern, spoofed)


def imported(**changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_fixture("events/imported-inspector.json"))
    event["detail"]["findings"][0].update(changes)
    return event


@pytest.mark.parametrize(
    ("minimum", "label", "expected"),
    [
        ("HIGH", "CRITICAL", True),
        ("HIGH", "HIGH", True),
        ("HIGH", "MEDIUM", False),
        ("CRITICAL", "HIGH", False),
        ("INFORMATIONAL", "INFORMATIONAL", True),
        ("LOW", "INFORMATIONAL", False),
    ],
)
def test_auto_route_minimum_severity(minimum, label, expected):
    pattern = auto_route_pattern({"AutoRouteMinSeverity": minimum})
    assert matches(pattern, imported(Severity={"Label": label})) is expected


@pytest.mark.parametrize(
    "changes",
    [
        {"Workflow": {"Status": "NOTIFIED"}},
        {"Workflow": {"Status": "RESOLVED"}},
        {"RecordState": "ARCHIVED"},
    ],
)
def test_auto_route_ignores_worked_and_archived_findings(changes):
    # NOTIFIED is what hubrelay's own write-back sets: its Imported event never matches.
    assert not matches(auto_route_pattern({}), imported(**changes))


def of_product(name: str) -> dict[str, Any]:
    """An Imported event of product `name`, named in both fields as Security Hub does."""
    event = imported(ProductName=name)
    event["detail"]["findings"][0]["ProductFields"]["aws/securityhub/ProductName"] = name
    return event


def test_auto_route_product_filter_is_optional():
    assert matches(auto_route_pattern({}), of_product("Anything"))
    pattern = auto_route_pattern({"AutoRouteProductNames": "GuardDuty,Inspector"})
    assert pattern["detail"]["findings"]["$or"] == [
        {"ProductName": ["GuardDuty", "Inspector"]},
        {"ProductFields": {"aws/securityhub/ProductName": ["GuardDuty", "Inspector"]}},
    ]
    assert matches(pattern, imported())
    assert not matches(pattern, of_product("Macie"))


def test_the_pattern_matches_across_findings_so_the_responder_rechecks_each_one():
    # Two findings: one HIGH but already NOTIFIED, one NEW but LOW. EventBridge matches
    # each field against any element, so the rule fires; the responder sends neither.
    event = imported()
    worked = dict(event["detail"]["findings"][0], Id="a", Workflow={"Status": "NOTIFIED"})
    low = dict(event["detail"]["findings"][0], Id="b", Severity={"Label": "LOW"})
    low["FindingProviderFields"] = {"Severity": {"Label": "LOW"}}
    event["detail"]["findings"] = [worked, low]
    assert matches(auto_route_pattern({}), event)
    config = RouteConfig.from_settings(
        Settings(auto_route=True, sns_topic_arn="arn:aws:sns:us-east-1:1:t")
    )
    decision = decide(event, config)
    assert decision.findings == []
    assert len(decision.skipped) == 2


def test_responder_environment_carries_the_action_arns_from_the_stack():
    resolved = resolver({})
    variables = resolved.resolve(
        resolved.template["Resources"]["ResponderFunction"]["Properties"]["Environment"]
    )["Variables"]
    settings = Settings.from_env({k: str(v) for k, v in variables.items()})
    config = RouteConfig.from_settings(settings)
    assert dict(config.actions) == {
        ACTIONS["WebhookActionTarget"]: "webhook",
        ACTIONS["SnsActionTarget"]: "sns",
        ACTIONS["OpsCenterActionTarget"]: "opscenter",
        ACTIONS["VendorActionTarget"]: "vendor",
    }
    assert config.enabled == {"webhook", "sns", "opscenter", "vendor"}
    assert config.auto_route
    assert settings.idempotency_window_minutes == 60
    # The automatic route's ledger outlasts its queue's receives ((5 + 1) x 1,830 s)
    assert settings.auto_route_max_receives == 5
    assert auto_route_window_minutes(settings) == 183


def test_action_ids_and_names_stay_within_security_hub_limits():
    resolved = resolver({"ActionIdPrefix": "A" * 12})
    for logical_id in ACTIONS:
        properties = resolved.resolve(resolved.template["Resources"][logical_id]["Properties"])
        assert properties["Id"].isalnum()
        assert len(properties["Id"]) <= 20
        assert 1 <= len(properties["Name"]) <= 20


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"])
def test_custom_actions_exist_in_every_region(region):
    resolved = resolver({}, region=region)
    assert resolved.condition("SnsAction")


def test_insights_and_product_subscription_target_this_regions_product_arn():
    partner = "arn:aws:securityhub:us-west-2:222222222222:product/generico/secure-pro"
    resolved = resolver({"ProductArn": partner})
    expected = "arn:aws:securityhub:us-east-1:222222222222:product/generico/secure-pro"
    subscription = resolved.template["Resources"]["PartnerProductSubscription"]
    assert resolved.condition(subscription["Condition"])
    assert resolved.resolve(subscription["Properties"])["ProductArn"] == expected
    for name in ("InsightCriticalHighByResource", "InsightByType", "InsightRecentNew"):
        filters = resolved.resolve(resolved.template["Resources"][name]["Properties"])["Filters"]
        assert filters["ProductArn"] == [{"Comparison": "EQUALS", "Value": expected}]
    private = resolver({})
    assert not private.condition("SubscribeToPartnerProduct")


def test_insights_and_product_subscription_keep_a_product_arn_without_an_account():
    # Trivy's product, as Security Hub lists it: no account in the ARN
    resolved = resolver(
        {"ProductArn": "arn:aws:securityhub:us-west-2::product/aquasecurity/aquasecurity"}
    )
    expected = "arn:aws:securityhub:us-east-1::product/aquasecurity/aquasecurity"
    subscription = resolved.template["Resources"]["PartnerProductSubscription"]
    assert resolved.condition(subscription["Condition"])
    assert resolved.resolve(subscription["Properties"])["ProductArn"] == expected
    for name in ("InsightCriticalHighByResource", "InsightByType", "InsightRecentNew"):
        filters = resolved.resolve(resolved.template["Resources"][name]["Properties"])["Filters"]
        assert filters["ProductArn"] == [{"Comparison": "EQUALS", "Value": expected}]


def named_only_in_product_fields(name: str) -> dict[str, Any]:
    """An Imported event whose finding carries its product name only where some products
    put it: ProductFields["aws/securityhub/ProductName"] (defect (i), issue 13)."""
    event = imported()
    finding = event["detail"]["findings"][0]
    del finding["ProductName"]
    finding["ProductFields"]["aws/securityhub/ProductName"] = name
    return event


@pytest.mark.parametrize("securityhubs", ["CSPM", "Both"])
def test_the_product_filter_reads_product_fields_when_product_name_is_absent(securityhubs):
    pattern = auto_route_pattern(
        {"SecurityHubs": securityhubs, "AutoRouteProductNames": "secure-pro,Inspector"}
    )
    assert matches(pattern, named_only_in_product_fields("secure-pro"))
    assert matches(pattern, of_product("secure-pro"))
    assert not matches(pattern, named_only_in_product_fields("Macie"))
    assert not matches(pattern, of_product("Macie"))
    # The responder reads the same two fields (EventFinding.product_name).
    config = RouteConfig.from_settings(
        Settings(
            auto_route=True,
            sns_topic_arn="arn:aws:sns:us-east-1:1:t",
            auto_route_product_names="secure-pro",
        )
    )
    assert decide(named_only_in_product_fields("secure-pro"), config).findings


def test_with_both_and_every_product_a_name_only_in_product_fields_still_routes():
    pattern = auto_route_pattern({"SecurityHubs": "Both"})
    assert matches(pattern, named_only_in_product_fields("secure-pro"))
    # The new Security Hub's own products stay with it, whichever field names them.
    assert not matches(pattern, named_only_in_product_fields("GuardDuty"))
    # A finding named nowhere is not one the new Security Hub receives: the CSPM rule keeps it.
    nameless = named_only_in_product_fields("x")
    del nameless["detail"]["findings"][0]["ProductFields"]["aws/securityhub/ProductName"]
    assert matches(pattern, nameless)


def _longest_product_names() -> str:
    """AutoRouteProductNames at its MaxLength, in short names (the most quotes and commas)."""
    limit = int(_template()["Parameters"]["AutoRouteProductNames"]["MaxLength"])
    names = ",".join(f"P{index:02d}" for index in range(limit // 4 + 1))
    return names[:limit].rstrip(",")


@pytest.mark.parametrize("securityhubs", ["CSPM", "Both"])
@pytest.mark.parametrize("every_product", [True, False])
def test_the_auto_route_pattern_stays_under_eventbridges_size_limit(securityhubs, every_product):
    # "Event pattern size: 2,048 characters" (Amazon EventBridge quotas,
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html); PutRule's
    # EventPattern is the JSON text, measured here as compact JSON.
    import json

    names = "" if every_product else _longest_product_names()
    pattern = auto_route_pattern(
        {
            "SecurityHubs": securityhubs,
            "AutoRouteProductNames": names,
            "AutoRouteMinSeverity": "INFORMATIONAL",  # the longest label list
        }
    )
    assert len(json.dumps(pattern, separators=(",", ":"))) <= 2048
