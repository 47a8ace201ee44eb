"""hubrelay.routing: which events are accepted, and what each destination is sent."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from hubrelay.destinations import REGISTRY
from hubrelay.routing import NOT_OWED, RouteConfig, decide, labels_at_least, plan_deliveries
from hubrelay.settings import Settings
from tests.support import load_fixture, nested

ACTION = "arn:aws:securityhub:us-east-1:111111111111:action/custom/hubrelayHook"
SNS_ACTION = "arn:aws:securityhub:us-east-1:111111111111:action/custom/hubrelaySns"
FAMILIES = ["guardduty", "inspector", "macie", "securityhub-control", "partner"]


def config(**overrides: Any) -> RouteConfig:
    values: dict[str, Any] = {
        "webhook_action_arn": ACTION,
        "sns_action_arn": SNS_ACTION,
        "webhook_secret_arn": "hubrelay/webhook",
        "sns_topic_arn": "arn:aws:sns:us-east-1:111111111111:t",
        "opscenter_enabled": True,
        "auto_route": True,
        "auto_route_destinations": "sns,opscenter",
    }
    values.update(overrides)
    return RouteConfig.from_settings(Settings(**values))


def event(name: str = "multi") -> dict[str, Any]:
    return copy.deepcopy(load_fixture(f"events/custom-action-{name}.json"))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_product_family_is_accepted_despite_missing_optional_fields(family):
    decision = decide(event(family), config())
    assert decision.accepted, decision.reason
    assert len(decision.findings) == 1
    assert decision.route is not None
    assert decision.route.destinations == ("webhook",)


def test_a_multi_select_event_yields_every_finding():
    decision = decide(event(), config())
    assert [f.ProductName for f in decision.findings] == [
        "GuardDuty", "Inspector", "Macie", "Security Hub", "secure-pro",
    ]  # fmt: skip
    deliveries = plan_deliveries(decision, config())
    assert len(deliveries) == 5
    assert {d.findings[0].Id for d in deliveries} == {f.Id for f in decision.findings}


def test_batch_mode_sends_one_document_for_all_findings_of_one_event():
    deliveries = plan_deliveries(decide(event(), config()), config(webhook_mode="batch"))
    assert len(deliveries) == 1
    body = json.loads(deliveries[0].payload["body"])
    assert len(body["findings"]) == 5


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.update(source="aws.guardduty"), "is not aws.securityhub"),
        (lambda e: e.update(source="custom.securityhub"), "is not aws.securityhub"),
        (
            lambda e: e.update(
                resources=["arn:aws:securityhub:us-east-1:999999999999:action/custom/evil"]
            ),
            "do not belong to this stack",
        ),
        (lambda e: e.update(resources=[]), "do not belong to this stack"),
        (lambda e: e.update({"detail-type": "Security Hub Insight Results"}), "not handled"),
        (lambda e: e["detail"].update(findings=[]), "not a Security Hub findings event"),
        (lambda e: e.pop("detail"), "not a Security Hub findings event"),
        (
            lambda e: e["detail"].update(findings=[{"Title": "no id"}, 42, "x"]),
            "no finding in the event could be read",
        ),
    ],
    ids=[
        "other-service",
        "custom-source",
        "foreign-action",
        "no-action",
        "other-detail-type",
        "no-findings",
        "no-detail",
        "malformed-findings",
    ],
)
def test_hostile_events_are_rejected_with_a_reason(change, reason):
    hostile = event()
    change(hostile)
    decision = decide(hostile, config())
    assert not decision.accepted
    assert reason in decision.reason
    assert plan_deliveries(decision, config()) == []


@pytest.mark.parametrize("value", [None, [], "text", 12])
def test_non_object_events_are_rejected(value):
    assert not decide(value, config()).accepted


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda e: e["detail"]["findings"][0]["Severity"].update(Normalized=10**400),
            "event: integer of 401 digits (at most 64) at detail.findings[0].Severity.Normalized",
        ),
        (
            lambda e: e["detail"]["findings"][1].update(ProductFields={"x": nested(100_000)}),
            "event: nested too deeply (more than 64 levels) at detail.findings[1].ProductFields.x",
        ),
        (
            lambda e: e["detail"]["findings"][0].update(Confidence=float("nan")),
            "event: NaN is not a JSON number at detail.findings[0].Confidence",
        ),
        (lambda e: e.update(source=10**5000), "event: integer of 5001 digits"),
    ],
    ids=["integer-401", "100000-deep", "nan", "source-5001"],
)
def test_events_no_loader_would_pass_are_rejected_with_the_reason(change, reason):
    # As Lambda's runtime parses an event (Python's json: NaN, 4,300-digit integers,
    # nesting to the recursion limit), or as code builds one.
    hostile = event()
    change(hostile)
    decision = decide(hostile, config())
    assert not decision.accepted
    assert decision.reason.startswith(reason)
    assert plan_deliveries(decision, config()) == []


def test_unreadable_findings_are_rejected_alone():
    mixed = event()
    mixed["detail"]["findings"].insert(1, {"ProductArn": "x"})
    decision = decide(mixed, config())
    assert decision.accepted
    assert len(decision.findings) == 5
    assert [index for index, _ in decision.rejected] == [1]


def test_an_action_whose_destination_is_not_configured_is_rejected_naming_what_to_set():
    decision = decide(event(), config(webhook_secret_arn=""))
    assert not decision.accepted
    assert decision.reason == (
        "destination webhook is not configured: set EnableWebhook=true and "
        "WebhookSecretName (HUBRELAY_WEBHOOK_SECRET_ARN)"
    )


def test_every_destination_says_what_enables_it():
    # Each names at least one stack parameter an operator can set.
    assert all(d.needs and d.needs[0].isupper() for d in REGISTRY.values())


def imported(**finding_changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(load_fixture("events/imported-inspector.json"))
    document["detail"]["findings"][0].update(finding_changes)
    return document


def test_the_automatic_route_takes_new_active_findings_at_or_above_the_minimum():
    decision = decide(imported(), config())
    assert decision.accepted
    assert len(decision.findings) == 1
    assert decision.route is not None
    assert decision.route.destinations == ("sns", "opscenter")


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"Workflow": {"Status": "NOTIFIED"}}, "not NEW"),
        ({"RecordState": "ARCHIVED"}, "not ACTIVE"),
        ({"Severity": {"Label": "MEDIUM"}, "FindingProviderFields": {}}, "below HIGH"),
    ],
)
def test_the_automatic_route_rechecks_each_finding(changes, why):
    decision = decide(imported(**changes), config())
    assert decision.findings == []
    assert why in decision.skipped[0][1]


def test_the_automatic_route_filters_on_product_names():
    assert decide(imported(), config(auto_route_product_names="Inspector")).findings
    skipped = decide(imported(), config(auto_route_product_names="GuardDuty,Macie"))
    assert not skipped.findings


def test_the_automatic_route_is_refused_when_off():
    decision = decide(imported(), config(auto_route=False))
    assert not decision.accepted
    assert "off" in decision.reason


def test_a_reopened_finding_gets_a_delivery_of_its_own_per_reopening():
    # A workflow reset to NEW keeps UserDefinedFields: the marker says it was sent before.
    first = plan_deliveries(decide(imported(), config()), config())
    again = imported(UserDefinedFields={"hubrelay:opscenter": "oi-000000000001"})
    decision = decide(again, config())
    reopened = plan_deliveries(decision, config())
    assert [d.destination for d in reopened] == ["sns", "opscenter"]
    assert decision.route is not None
    keys = {d.destination: d.idempotency_key(decision.route) for d in reopened}
    assert keys["opscenter"]["reopened"] == "1"
    assert "reopened" not in keys["sns"]  # never sent to SNS: its first delivery
    assert first[1].idempotency_key(decision.route) == {
        k: v for k, v in keys["opscenter"].items() if k != "reopened"
    }
    twice = imported(
        UserDefinedFields={"hubrelay:opscenter": "oi-2", "hubrelay:opscenter:reopened": "1"}
    )
    later = decide(twice, config())
    assert later.route is not None
    (_, ops) = plan_deliveries(later, config())
    assert ops.idempotency_key(later.route)["reopened"] == "2"


def test_a_custom_action_is_never_keyed_as_a_reopening():
    clicked = event("guardduty")
    clicked["detail"]["findings"][0]["UserDefinedFields"] = {"hubrelay:webhook": "T-1"}
    decision = decide(clicked, config())
    assert decision.route is not None
    (delivery,) = plan_deliveries(decision, config())
    assert "reopened" not in delivery.idempotency_key(decision.route)


def test_severity_falls_back_to_normalized_then_provider_fields():
    partner = decide(event("partner"), config()).findings[0]
    assert partner.severity_label == "HIGH"  # Normalized 75
    provider_only = event("partner")
    finding = provider_only["detail"]["findings"][0]
    finding.pop("Severity")
    finding["FindingProviderFields"] = {"Severity": {"Label": "CRITICAL"}}
    assert decide(provider_only, config()).findings[0].severity_label == "CRITICAL"


def test_labels_at_least_lists_the_rule_pattern_values():
    assert labels_at_least("HIGH") == ["HIGH", "CRITICAL"]
    assert labels_at_least("INFORMATIONAL")[0] == "INFORMATIONAL"


def test_payloads_carry_console_links_and_the_detective_pivot_for_guardduty_only():
    decision = decide(event(), config())
    summaries = [
        json.loads(d.payload["body"])["findings"][0] for d in plan_deliveries(decision, config())
    ]
    for summary in summaries:
        assert summary["links"]["securityHub"].startswith(
            "https://console.aws.amazon.com/securityhub/home?region=us-east-1#/findings?search="
        )
    detective = {s["productName"]: "detective" in s["links"] for s in summaries}
    assert detective == {
        "GuardDuty": True, "Inspector": False, "Macie": False, "Security Hub": False,
        "secure-pro": False,
    }  # fmt: skip


def test_sns_and_opscenter_payloads_respect_service_limits():
    decision = decide(imported(Title="é" * 300), config())
    sns_payload, ops_payload = (d.payload for d in plan_deliveries(decision, config()))
    assert len(sns_payload["Subject"]) < 100
    assert sns_payload["Subject"].isascii()
    message = json.loads(sns_payload["Message"])
    assert set(message) == {"default", "email"}
    assert json.loads(message["default"])["version"] == "1.0"  # AWS Chatbot custom format
    assert len(ops_payload["Title"]) <= 1024
    dedup = json.loads(ops_payload["OperationalData"]["/aws/dedup"]["Value"])
    assert dedup["dedupString"].startswith("hubrelay:")
    assert ops_payload["Severity"] == "1"  # CRITICAL


def test_vendor_back_sync_only_covers_this_products_findings():
    cfg = config(
        vendor_action_arn=ACTION.replace("Hook", "Vndr"),
        vendor_back_sync=True,
        vendor_secret_arn="hubrelay/vendor",
        product_arn="arn:aws:securityhub:us-west-2:222222222222:product/generico/secure-pro",
    )
    multi = event()
    multi["resources"] = [ACTION.replace("Hook", "Vndr")]
    decision = decide(multi, cfg)
    deliveries = plan_deliveries(decision, cfg)
    assert [d.findings[0].ProductName for d in deliveries] == ["secure-pro"]
    assert sum("not this product's finding" in why for _, why in decision.skipped) == 4


TRIVY = "arn:aws:securityhub:us-east-1::product/aquasecurity/aquasecurity"


@pytest.mark.parametrize(
    ("configured", "finding_arn"),
    [
        # Configured without an account, the finding too (Trivy's own form)
        (TRIVY, TRIVY),
        # Configured without an account, the finding in another Region
        (TRIVY, TRIVY.replace("us-east-1", "eu-west-1")),
        # Configured with the partner's account, the finding listed without one
        (
            "arn:aws:securityhub:us-west-2:222222222222:product/aquasecurity/aquasecurity",
            TRIVY,
        ),
        # Configured without an account, the finding carrying the partner's
        (TRIVY, "arn:aws:securityhub:us-east-1:222222222222:product/aquasecurity/aquasecurity"),
    ],
)
def test_vendor_back_sync_covers_this_product_with_or_without_an_account(configured, finding_arn):
    # Given back-sync for a product, and a custom action on its finding and on AWS services'
    cfg = config(
        vendor_action_arn=ACTION.replace("Hook", "Vndr"),
        vendor_back_sync=True,
        vendor_secret_arn="hubrelay/vendor",
        product_arn=configured,
    )
    multi = event()
    multi["resources"] = [ACTION.replace("Hook", "Vndr")]
    ours = next(f for f in multi["detail"]["findings"] if f["ProductName"] == "secure-pro")
    ours.update(ProductArn=finding_arn, ProductName="aquasecurity", CompanyName="aquasecurity")
    # When the event is routed
    decision = decide(multi, cfg)
    deliveries = plan_deliveries(decision, cfg)
    # Then only that product's finding goes to the vendor; GuardDuty, Inspector, Macie and
    # Security Hub (company "aws", no account either) are never its findings
    assert [d.findings[0].ProductArn for d in deliveries] == [finding_arn]
    skipped = [why for _, why in decision.skipped if "not this product's finding" in why]
    assert len(skipped) == 4


def test_vendor_back_sync_skips_another_partner_listed_without_an_account():
    cfg = config(
        vendor_action_arn=ACTION.replace("Hook", "Vndr"),
        vendor_back_sync=True,
        vendor_secret_arn="hubrelay/vendor",
        product_arn=TRIVY,
    )
    partner = event("partner")
    partner["resources"] = [ACTION.replace("Hook", "Vndr")]
    partner["detail"]["findings"][0]["ProductArn"] = (
        "arn:aws:securityhub:us-east-1::product/prowler/prowler"
    )
    decision = decide(partner, cfg)
    assert plan_deliveries(decision, cfg) == []
    assert [why for _, why in decision.skipped] == ["vendor: not this product's finding"]


def test_slack_format_is_a_slack_message_with_escaped_text_and_links():
    hostile = event("partner")
    hostile["detail"]["findings"][0]["Title"] = "<!channel> & <http://evil|click>"
    cfg = config(webhook_format="slack")
    (delivery,) = plan_deliveries(decide(hostile, cfg), cfg)
    message = json.loads(delivery.payload["body"])
    assert message["text"].startswith("Security Hub: 1 finding(s)")
    text = message["blocks"][0]["text"]["text"]
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in text
    assert "|securityHub>" in text


# --- Only this stack's accounts and Regions -------------------------------------------

STACK_ACCOUNT = "111111111111"


def own(**overrides: Any) -> RouteConfig:
    return config(**{"account_id": STACK_ACCOUNT, "regions": "us-east-1", **overrides})


def with_finding(**fields: Any) -> dict[str, Any]:
    document = event("partner")
    document["account"] = STACK_ACCOUNT
    document["detail"]["findings"][0].update(fields)
    return document


def test_a_finding_of_another_account_is_not_acted_on_unless_listed():
    # Given a stack in 111111111111 and a finding of a member account
    member = with_finding(AwsAccountId="222222222222", Region="us-east-1")
    decision = decide(member, own())
    # Then nothing is routed, and the reason names the account and the setting
    assert not decision.accepted
    assert plan_deliveries(decision, own()) == []
    ((_, why),) = decision.foreign
    assert "222222222222" in why
    assert "RouteMemberAccounts" in why
    # When the administrator lists the member (or ALL), it is routed
    assert decide(member, own(route_member_accounts="222222222222")).findings
    assert decide(member, own(route_member_accounts="ALL")).findings
    assert not decide(member, own(route_member_accounts="333333333333")).findings


def test_a_finding_of_a_region_outside_the_stacks_regions_is_not_acted_on():
    elsewhere = with_finding(AwsAccountId=STACK_ACCOUNT, Region="ap-south-1")
    decision = decide(elsewhere, own())
    assert not decision.findings
    assert "ap-south-1" in decision.foreign[0][1]
    assert decide(elsewhere, own(regions="us-east-1,ap-south-1")).findings


def test_an_event_from_another_account_is_rejected_whole():
    document = with_finding(AwsAccountId=STACK_ACCOUNT, Region="us-east-1")
    document["account"] = "999999999999"
    decision = decide(document, own())
    assert not decision.accepted
    assert "999999999999" in decision.reason


def test_own_findings_are_routed_and_mixed_events_keep_only_them():
    document = with_finding(AwsAccountId=STACK_ACCOUNT, Region="us-east-1")
    foreign = copy.deepcopy(document["detail"]["findings"][0])
    foreign.update(Id="other/1", AwsAccountId="222222222222")
    document["detail"]["findings"].append(foreign)
    decision = decide(document, own())
    assert decision.accepted
    assert [f.Id for f in decision.findings] == [document["detail"]["findings"][0]["Id"]]
    assert [key[1] for key, _ in decision.foreign] == ["other/1"]


def test_the_product_filter_reads_the_name_security_hub_keeps_in_product_fields():
    # Given an Imported event whose finding names its product only in ProductFields (defect i)
    document = copy.deepcopy(load_fixture("events/imported-inspector.json"))
    finding = document["detail"]["findings"][0]
    name = finding.pop("ProductName", None) or "Inspector"
    finding.setdefault("ProductFields", {})["aws/securityhub/ProductName"] = name
    # When the automatic route forwards only that product
    decision = decide(document, config(auto_route_product_names=name))
    # Then it is routed, and named in what is sent
    assert [f.product_name for f in decision.findings] == [name]
    assert decide(document, config(auto_route_product_names="GuardDuty")).findings == []


def test_a_stack_without_custom_actions_says_so_not_that_the_arn_is_foreign():
    config = RouteConfig.from_settings(Settings())
    decision = decide(load_fixture("events/custom-action-multi.json"), config)
    assert not decision.accepted
    assert decision.reason.startswith("no custom action is configured")


def test_the_reason_counts_findings_not_the_destinations_that_skip_them():
    # Given one finding on a route to SNS and OpsCenter, of which only SNS is owed
    cfg = config(auto_route_destinations="sns,opscenter")
    decision = decide(imported(), cfg)
    (finding,) = decision.findings
    decision.owed[finding.key] = frozenset({"sns"})
    # When the deliveries are planned
    plan_deliveries(decision, cfg)
    # Then the reason says where the one finding goes, and no second one (helper-73: "1
    # finding(s) to sns; 1 skipped" read as two findings)
    assert decision.reason.endswith(": 1 finding(s) to sns"), decision.reason
    assert [why for _, why in decision.skipped] == [f"opscenter: {NOT_OWED}"]


def test_an_event_whose_every_finding_is_skipped_does_not_say_where_they_go():
    # Given a vendor custom action on 5 findings none of which is the vendor's product's
    from hubrelay import responder

    vendor_action = ACTION.replace("Hook", "Vndr")
    cfg = config(
        vendor_action_arn=vendor_action,
        vendor_back_sync=True,
        vendor_secret_arn="hubrelay/vendor",
        product_arn="arn:aws:securityhub:us-west-2:222222222222:product/other/other",
    )
    multi = event()
    multi["resources"] = [vendor_action]
    # When it is previewed
    report = responder.settle_verdict(responder.preview(multi, cfg))
    # Then it is not accepted, and says nothing is sent and why, counting findings
    assert report["accepted"] is False
    assert len(report["skipped"]) == 5
    assert report["reason"].startswith("0 accepted, 5 rejected: custom-action route ")
    assert report["reason"].endswith(": nothing to send; 5 not sent (see skipped)")
