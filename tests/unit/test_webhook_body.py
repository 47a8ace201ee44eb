"""Webhook bodies: what WebhookMode=batch groups, and the WebhookMaxBodyBytes cap (a batch
over it split, a finding over it sent without its ASFF copy, one still over it refused with
the reason, never dropped)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from hubrelay.destinations import webhook
from hubrelay.errors import DeliveryError
from hubrelay.routing import RouteConfig, decide, plan_deliveries
from hubrelay.settings import Settings
from tests.support import load_fixture

ACTION = "arn:aws:securityhub:us-east-1:111111111111:action/custom/hubrelayHook"


def config(**overrides: Any) -> RouteConfig:
    values: dict[str, Any] = {
        "webhook_action_arn": ACTION,
        "webhook_secret_arn": "hubrelay/webhook",
        **overrides,
    }
    return RouteConfig.from_settings(Settings(**values))


def event(name: str = "multi", padding: int = 0) -> dict[str, Any]:
    document = copy.deepcopy(load_fixture(f"events/custom-action-{name}.json"))
    for finding in document["detail"]["findings"]:
        # ProductFields values run to 2,048 characters: many of them make a big finding.
        finding["ProductFields"] = {f"pad/{n}": "x" * 2000 for n in range(padding)}
    return document


def bodies(deliveries: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(d.payload["body"]) for d in deliveries]


def test_batch_mode_groups_the_findings_of_one_event_and_a_one_finding_event_is_one_body():
    batch = config(webhook_mode="batch")
    (several,) = plan_deliveries(decide(event(), batch), batch)
    assert len(json.loads(several.payload["body"])["findings"]) == 5
    # What Security Hub sends: one finding per custom-action event.
    (single,) = plan_deliveries(decide(event("guardduty"), batch), batch)
    assert len(json.loads(single.payload["body"])["findings"]) == 1


def test_a_batch_over_the_cap_is_split_into_bodies_within_it_and_loses_no_finding():
    batch = config(webhook_mode="batch", webhook_max_body_bytes=40_000)
    decision = decide(event(padding=8), batch)
    deliveries = plan_deliveries(decision, batch)
    assert len(deliveries) > 1
    assert all(len(d.payload["body"].encode()) <= 40_000 for d in deliveries)
    sent = [f["id"] for body in bodies(deliveries) for f in body["findings"]]
    assert sorted(sent) == sorted(f.Id for f in decision.findings)
    assert all("asff" in f for body in bodies(deliveries) for f in body["findings"])
    assert decision.route is not None
    keys = {json.dumps(d.idempotency_key(decision.route), sort_keys=True) for d in deliveries}
    assert len(keys) == len(deliveries)


def test_a_finding_over_the_cap_is_sent_without_its_asff_copy_and_says_so():
    small = config(webhook_max_body_bytes=16_384)
    (delivery,) = plan_deliveries(decide(event("guardduty", padding=10), small), small)
    assert len(delivery.payload["body"].encode()) <= 16_384
    (finding,) = json.loads(delivery.payload["body"])["findings"]
    assert "asff" not in finding
    assert "over WebhookMaxBodyBytes (16384)" in finding["truncated"]["asff"]
    assert finding["id"]
    assert finding["title"]
    assert delivery.payload[webhook.TRUNCATED] == finding["truncated"]["asff"]


def test_a_finding_still_over_the_cap_fails_its_delivery_with_the_reason():
    small = config(webhook_max_body_bytes=16_384)
    huge = event("guardduty")
    huge["detail"]["findings"][0]["Resources"] = [
        {"Type": "Other", "Id": "r" * 900 + str(n)} for n in range(32)
    ]
    (delivery,) = plan_deliveries(decide(huge, small), small)
    with pytest.raises(DeliveryError, match="even without its ASFF copy, over WebhookMax"):
        webhook.send(delivery, {"k": "v"}, small.settings, outlets=None)  # type: ignore[arg-type]


def test_the_cap_has_bounds():
    with pytest.raises(ValueError, match="greater than or equal to 16384"):
        Settings(webhook_max_body_bytes=1_000)
