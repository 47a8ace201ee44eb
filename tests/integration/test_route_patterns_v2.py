"""template.yaml's SecurityHubs parameter: the rule on `Findings Imported V2` (severity_id,
status_id, product), custom actions only when CSPM is routed, Both without double
notification, and the V2 write-back's IAM, checked with the documented EventBridge
semantics (hubrelay_emulator.eventpattern) and the emulator's IAM evaluator."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hubrelay.routing import SHOWN_IN_BOTH
from hubrelay_emulator import iam
from hubrelay_emulator.eventpattern import matches
from tests.integration.test_route_patterns import (
    ACCOUNT,
    imported,
    of_product,
    resolver,
    rule_pattern,
)
from tests.support import load_fixture, role_checker

ACTION_TARGETS = (
    "WebhookActionTarget",
    "SnsActionTarget",
    "OpsCenterActionTarget",
    "VendorActionTarget",
)


def v2(**changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_fixture("events/imported-v2-guardduty.json"))
    event["detail"]["findings"][0].update(changes)
    return event


def created(overrides: dict[str, str], logical_id: str) -> bool:
    resolved = resolver(overrides)
    spec = resolved.template["Resources"][logical_id]
    return "Condition" not in spec or bool(resolved.condition(spec["Condition"]))


@pytest.mark.parametrize(
    ("choice", "cspm_rule", "v2_rule", "actions"),
    [
        ("CSPM", True, False, True),
        ("SecurityHub", False, True, False),
        ("Both", True, True, True),
    ],
)
def test_securityhubs_chooses_the_rules_and_custom_actions(choice, cspm_rule, v2_rule, actions):
    overrides = {"SecurityHubs": choice}
    assert created(overrides, "AutoRouteRule") is cspm_rule
    assert created(overrides, "AutoRouteV2Rule") is v2_rule
    assert all(created(overrides, target) is actions for target in ACTION_TARGETS)


@pytest.mark.parametrize(
    ("minimum", "severity_id", "expected"),
    [
        ("HIGH", 4, True),
        ("HIGH", 5, True),
        ("HIGH", 6, True),
        ("HIGH", 3, False),
        ("CRITICAL", 4, False),
        ("MEDIUM", 3, True),
        ("LOW", 1, False),
        ("INFORMATIONAL", 1, True),
        ("INFORMATIONAL", 99, True),
    ],
)
def test_the_v2_rule_filters_on_severity_id(minimum, severity_id, expected):
    pattern = rule_pattern(
        {"SecurityHubs": "SecurityHub", "AutoRouteMinSeverity": minimum}, "AutoRouteV2Rule"
    )
    assert matches(pattern, v2(severity_id=severity_id)) is expected


@pytest.mark.parametrize("status_id", [0, 2, 3, 4, 5, 99])
def test_the_v2_rule_takes_only_new_findings(status_id):
    # In Progress (2) is what hubrelay's own write-back sets: its event never matches.
    pattern = rule_pattern({"SecurityHubs": "SecurityHub"}, "AutoRouteV2Rule")
    assert matches(pattern, v2())
    assert not matches(pattern, v2(status_id=status_id))


def test_the_v2_rule_filters_on_the_product_name():
    every = rule_pattern({"SecurityHubs": "SecurityHub"}, "AutoRouteV2Rule")
    assert "metadata" not in every["detail"]["findings"]
    some = rule_pattern(
        {"SecurityHubs": "SecurityHub", "AutoRouteProductNames": "GuardDuty,Inspector"},
        "AutoRouteV2Rule",
    )
    assert matches(some, v2())
    other = v2()
    other["detail"]["findings"][0]["metadata"]["product"]["name"] = "Macie"
    assert not matches(some, other)
    assert not matches(some, imported())


def test_with_both_the_cspm_rule_leaves_the_new_security_hubs_products_to_it():
    pattern = rule_pattern({"SecurityHubs": "Both"}, "AutoRouteRule")
    for product in SHOWN_IN_BOTH:
        assert not matches(pattern, of_product(product)), product
    assert matches(pattern, of_product("secure-pro"))
    only_cspm = rule_pattern({"SecurityHubs": "CSPM"}, "AutoRouteRule")
    assert matches(only_cspm, imported(ProductName="Inspector"))


@pytest.mark.parametrize(
    ("params", "allowed"),
    [
        ({"MetadataUids": ["u"], "StatusId": 2, "Comment": "sent"}, True),
        # Resolving is the status sync back's, with a role of its own (StatusSyncRole,
        # tests/integration/test_syncback_policy.py).
        ({"MetadataUids": ["u"], "StatusId": 4, "Comment": "closed"}, False),
        ({"MetadataUids": ["u"], "Comment": "only a comment"}, True),
        ({"MetadataUids": ["u"], "StatusId": 1}, False),
        ({"MetadataUids": ["u"], "StatusId": 3}, False),
        ({"MetadataUids": ["u"], "SeverityId": 1}, False),
    ],
)
def test_the_v2_write_back_may_set_only_in_progress_and_a_comment(params, allowed):
    checker = role_checker(("ResponderRole",), {"SecurityHubs": "SecurityHub"}, ACCOUNT)
    # The V2 operations are authorised on the hubv2 resource, not hub/default ("Actions,
    # resources, and condition keys for AWS Security Hub").
    (hub,) = iam.resources_of("securityhub", "BatchUpdateFindingsV2", params, "us-east-1", ACCOUNT)
    assert ":hubv2/" in hub
    context = iam.context_of("securityhub", "BatchUpdateFindingsV2", params)
    action = iam.action_of("securityhub", "BatchUpdateFindingsV2")
    assert checker.allows("ResponderRole", action, hub, context) is allowed
    read = iam.action_of("securityhub", "GetFindingsV2")
    (hub,) = iam.resources_of("securityhub", "GetFindingsV2", {}, "us-east-1", ACCOUNT)
    assert checker.allows("ResponderRole", read, hub, {})
