"""The OpsCenter destination's send, against botocore's own error shapes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hubrelay.destinations import opscenter
from hubrelay.errors import DeliveryError
from hubrelay.route_types import Outlets
from hubrelay.routing import RouteConfig, decide, plan_deliveries
from hubrelay.settings import Settings
from tests.support import load_fixture

ACTION = "arn:aws:securityhub:us-east-1:111111111111:action/custom/hubrelayOps"


class Ssm:
    def __init__(self, error: dict[str, Any]) -> None:
        self.error = error

    def create_ops_item(self, **_: Any) -> Any:
        raise ClientError(self.error, "CreateOpsItem")


def deliver(ssm: Ssm) -> dict[str, str]:
    settings = Settings(opscenter_enabled=True, opscenter_action_arn=ACTION)
    config = RouteConfig.from_settings(settings)
    event = copy.deepcopy(load_fixture("events/custom-action-guardduty.json"))
    event["resources"] = [ACTION]
    (delivery,) = plan_deliveries(decide(event, config), config)
    outlets = Outlets(sns=None, ssm=ssm, secret=lambda arn: "", http=None)  # type: ignore[arg-type]
    return opscenter.send(delivery, {}, settings, outlets)


def test_an_existing_opsitem_is_the_reference_not_a_failure():
    # Given OpsCenter answering that the finding's OpsItem exists already (defect e)
    error = {
        "Error": {"Code": "OpsItemAlreadyExistsException", "Message": "The OpsItem exists."},
        "OpsItemId": "oi-0123456789ab",
    }
    # Then that OpsItem is the delivery's reference
    assert deliver(Ssm(error)) == {"reference": "oi-0123456789ab"}


def test_any_other_refusal_is_a_failed_delivery():
    error = {"Error": {"Code": "OpsItemLimitExceededException", "Message": "too many"}}
    with pytest.raises(DeliveryError, match="OpsItemLimitExceeded"):
        deliver(Ssm(error))
