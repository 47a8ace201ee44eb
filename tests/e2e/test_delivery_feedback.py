"""Delivery feedback through the real template on the stack emulator: a finding refused
while the account is not subscribed reaches Security Hub once it is, with no source change
and no call outside the functions' roles."""

from __future__ import annotations

import json
import random

import pytest

from hubrelay_emulator import samples
from hubrelay_emulator import securityhub as hub


def test_an_unsubscribed_account_gets_its_findings_once_it_subscribes(
    make_stack, monkeypatch: pytest.MonkeyPatch
):
    # Given a stack collecting ASFF reports for an account that has not enabled Security Hub
    stack = make_stack(Source="scanner_reports")
    hub.disable_hub(stack.account, stack.region)
    finding = samples.control_finding(random.Random(7), 1, stack.account)
    s3, bucket = stack.client("s3"), stack.outputs["CollectorReportsBucket"]
    body = json.dumps({"Findings": [finding]}).encode()
    s3.put_object(Bucket=bucket, Key="reports/a/findings.json", Body=body)
    stack.tick()
    stack.drain()
    assert stack.contract.findings(stack.account, stack.region) == []
    dead = stack.messages("FindingsDeadLetterQueue")
    assert [m["MessageAttributes"]["hubrelay.ErrorCode"]["StringValue"] for m in dead] == [
        "InvalidAccess"
    ]
    # When the account enables Security Hub (the product is the account's own: no product
    # subscription needed), and the collector runs after the backoff
    hub.enable_hub(stack.account, stack.region)
    stack.advance(301)  # the functions' clocks follow the stack's simulated time
    stack.tick()
    stack.drain()
    # Then the finding is in Security Hub, the report untouched since
    (stored,) = stack.contract.findings(stack.account, stack.region)
    assert stored["Id"] == finding["Id"]
    assert stored["RecordState"] == "ACTIVE"
    # And no function made a call its role does not allow (the importer's UpdateItem
    # on the tracking table included)
    assert stack.checker.denied() == []
    actions = {(c.function, c.action) for c in stack.checker.calls}
    assert any(a == "dynamodb:UpdateItem" and "Importer" in f for f, a in actions)
