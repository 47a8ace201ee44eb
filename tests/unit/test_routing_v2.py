"""The new Security Hub's `Findings Imported V2` events: read by hubrelay.ocsf into the
EventFinding every destination renders; foreign and malformed ones rejected with the reason;
SecurityHubs choosing which Security Hub the automatic route listens to."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from hubrelay.destinations import REGISTRY
from hubrelay.routing import RouteConfig, decide, plan_deliveries
from hubrelay.settings import Settings
from tests.support import load_fixture

UID = "e51603d1054aad9d9f498d82d6e81acf4cf6bc88140e8ad2273123c73b81084"
GUARDDUTY_ARN = (
    "arn:aws:guardduty:us-east-1:123456789012:detector/12abc34d567e8fa901bc2d34e56789f0/"
    "finding/0ec8d2f0a9b1c2d3e4f5a6b7c8d9e0f1"
)


def config(**overrides: Any) -> RouteConfig:
    values: dict[str, Any] = {
        "webhook_secret_arn": "hubrelay/webhook",
        "sns_topic_arn": "arn:aws:sns:us-east-1:123456789012:t",
        "opscenter_enabled": True,
        "vendor_api_url": "https://vendor.example",
        "vendor_secret_arn": "hubrelay/vendor",
        "vendor_back_sync": True,
        "auto_route": True,
        "auto_route_destinations": "webhook,sns,opscenter",
        "securityhubs": "SecurityHub",
    }
    values.update(overrides)
    return RouteConfig.from_settings(Settings(**values))


def v2_event(name: str = "guardduty") -> dict[str, Any]:
    return copy.deepcopy(load_fixture(f"events/imported-v2-{name}.json"))


def finding_of(event: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = event["detail"]["findings"][0]
    return found


def test_the_documented_event_is_accepted_and_mapped_from_its_ocsf_fields() -> None:
    decision = decide(v2_event(), config())
    assert decision.accepted, decision.reason
    (finding,) = decision.findings
    assert finding.is_v2
    assert (finding.Id, finding.ProductArn) == (
        UID,
        "arn:aws:securityhub:us-east-1::productv2/aws/guardduty",
    )
    assert (finding.AwsAccountId, finding.Region) == ("123456789012", "us-east-1")
    assert (finding.product_name, finding.severity_label) == ("GuardDuty", "HIGH")
    assert finding.workflow_status == "NEW"
    assert finding.GeneratorId == GUARDDUTY_ARN
    assert [(r.Type, r.Id) for r in finding.Resources] == [
        ("AWS::EC2::Instance", "arn:aws:ec2:us-east-1:123456789012:instance/i-0abcd1234ef567890")
    ]
    assert finding.ProductFields["ocsf/class_uid"] == "2004"


def test_a_compliance_finding_of_cspm_in_the_new_security_hub_is_routed() -> None:
    decision = decide(v2_event("cspm-control"), config(auto_route_min_severity="MEDIUM"))
    assert decision.accepted, decision.reason
    assert decision.findings[0].product_name == "Security Hub CSPM"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.update(source="custom.securityhub"), "is not aws.securityhub"),
        (lambda e: e["detail"].update(findings=[]), "not a Security Hub findings event"),
        (lambda e: finding_of(e)["metadata"].pop("uid"), "metadata.uid"),
        (lambda e: finding_of(e)["metadata"]["product"].pop("uid"), "metadata.product.uid"),
        (lambda e: finding_of(e)["finding_info"].pop("uid"), "finding_info.uid"),
        (lambda e: finding_of(e)["cloud"]["account"].update(uid="12"), "cloud.account.uid"),
        (lambda e: finding_of(e).update(class_uid=3001), "not an OCSF Findings class"),
        (lambda e: finding_of(e).update(severity_id=7), "severity_id 7"),
        (lambda e: finding_of(e).update(status_id="New"), "status_id"),
        (lambda e: e.update(resources=["someone-else"]), "not among the event's resources"),
        # An ASFF finding in a V2 event is foreign to the OCSF model.
        (
            lambda e: e["detail"].update(
                findings=[load_fixture("events/imported-inspector.json")["detail"]["findings"][0]]
            ),
            "metadata",
        ),
    ],
)
def test_foreign_and_malformed_v2_events_are_rejected_with_the_reason(change, reason) -> None:
    event = v2_event()
    change(event)
    decision = decide(event, config())
    assert not decision.accepted
    said = decision.reason + " ".join(why for _, why in decision.rejected)
    assert reason in said, said


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda f: f.update(status_id=2), "Workflow.Status is NOTIFIED, not NEW"),
        (lambda f: f.update(status_id=4), "Workflow.Status is RESOLVED, not NEW"),
        (lambda f: f.update(severity_id=2), "severity LOW is below HIGH"),
    ],
)
def test_the_automatic_routes_filters_apply_to_ocsf_findings(change, reason) -> None:
    event = v2_event()
    change(finding_of(event))
    decision = decide(event, config())
    assert [why for _, why in decision.skipped] == [reason]
    assert plan_deliveries(decision, config()) == []


def test_the_product_filter_reads_metadata_product_name() -> None:
    assert not decide(v2_event(), config(auto_route_product_names="Inspector")).findings
    assert decide(v2_event(), config(auto_route_product_names="GuardDuty")).findings


def test_securityhubs_cspm_does_not_route_the_new_security_hub() -> None:
    decision = decide(v2_event(), config(securityhubs="CSPM"))
    assert not decision.accepted
    assert "SecurityHubs is CSPM" in decision.reason


def test_securityhubs_securityhub_does_not_route_cspm_events() -> None:
    cspm = load_fixture("events/imported-inspector.json")
    decision = decide(cspm, config(securityhubs="SecurityHub", auto_route_min_severity="LOW"))
    assert not decision.accepted
    assert "SecurityHubs is SecurityHub" in decision.reason


def test_with_both_a_finding_the_new_security_hub_shows_is_notified_once() -> None:
    both = config(securityhubs="Both", auto_route_min_severity="INFORMATIONAL")
    cspm = load_fixture("events/imported-inspector.json")
    decision = decide(cspm, both)
    assert decision.findings == []
    assert "the new Security Hub routes Inspector's findings" in decision.skipped[0][1]
    partner = copy.deepcopy(cspm)
    partner["detail"]["findings"][0]["ProductName"] = "secure-pro"
    assert decide(partner, both).findings
    assert decide(v2_event(), both).findings


def test_every_destination_renders_an_ocsf_finding() -> None:
    cfg = config()
    decision = decide(v2_event(), cfg)
    (finding,) = decision.findings
    rendered = {}
    for name, destination in REGISTRY.items():
        (delivery,) = destination.render(decision, [finding], cfg.settings)
        rendered[name] = json.dumps(delivery.payload)
        assert UID in rendered[name] or GUARDDUTY_ARN in rendered[name], name
    webhook = json.loads(json.loads(rendered["webhook"])["body"])
    (sent,) = webhook["findings"]
    assert sent["ocsf"]["metadata"]["uid"] == UID
    assert "asff" not in sent
    assert sent["securityHubEdition"] == "SecurityHub"
    assert "/securityhub/v2/home?region=us-east-1" in sent["links"]["securityHub"]
    assert sent["links"]["detective"].endswith("/GuardDuty/0ec8d2f0a9b1c2d3e4f5a6b7c8d9e0f1")
    slack_cfg = config(webhook_format="slack")
    (slack,) = REGISTRY["webhook"].render(decision, [finding], slack_cfg.settings)
    assert "securityhub/v2/home" in slack.payload["body"]
    assert "GuardDuty" in rendered["sns"]


def test_the_vendor_api_hears_only_of_its_own_product_in_v2_too() -> None:
    cfg = config(auto_route_destinations="vendor")
    decision = decide(v2_event(), cfg)
    assert plan_deliveries(decision, cfg) == []
    assert decision.skipped[0][1] == "vendor: not this product's finding"
