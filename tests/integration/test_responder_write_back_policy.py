"""The responder role's BatchUpdateFindings statements, evaluated as IAM would on the
requests the write-back makes and on the ones it must never make.

The condition keys are Security Hub's `securityhub:ASFFSyntaxPath/<field>` ("BatchUpdateFindings
for customers", Configuring access,
https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchupdatefindings.html).
"""

from __future__ import annotations

from typing import Any

import pytest

from hubrelay import writeback
from hubrelay_emulator import iam
from tests.support import role_checker

ACCOUNT = "123456789012"
HUB = f"arn:aws:securityhub:us-east-1:{ACCOUNT}:hub/default"
IDENTIFIER = {"ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty", "Id": "f-1"}


@pytest.fixture(scope="module")
def checker() -> iam.Checker:
    return role_checker(("ResponderRole",), {})


def allowed(checker: iam.Checker, request: dict[str, Any]) -> bool:
    context = iam.context_of("securityhub", "BatchUpdateFindings", request)
    return checker.allows("ResponderRole", "securityhub:BatchUpdateFindings", HUB, context)


@pytest.mark.parametrize("status", ["NEW", "UNCHANGED"])
def test_every_write_back_the_responder_builds_is_allowed(checker, status):
    sent = {("p", "f-1"): [writeback.Sent("webhook", "T-1"), writeback.Sent("sns", "m-1")]}
    (update,) = writeback.build_updates("Send to webhook", sent, {("p", "f-1"): status})
    assert allowed(checker, update.request())


@pytest.mark.parametrize(
    "change",
    [
        {"Severity": {"Label": "LOW"}},
        {"Severity": {"Normalized": 1}},
        {"Confidence": 10},
        {"Criticality": 10},
        {"Types": ["Software and Configuration Checks"]},
        {"VerificationState": "FALSE_POSITIVE"},
        {"RelatedFindings": [IDENTIFIER]},
        {"Workflow": {"Status": "RESOLVED"}},
        {"Workflow": {"Status": "SUPPRESSED"}},
        {"Workflow": {"Status": "NEW"}},
    ],
)
def test_any_other_change_is_denied(checker, change):
    note = {"Note": {"Text": "x", "UpdatedBy": "hubrelay"}}
    assert allowed(checker, {"FindingIdentifiers": [IDENTIFIER], **note})
    assert not allowed(checker, {"FindingIdentifiers": [IDENTIFIER], **note, **change})


def test_an_operator_the_evaluator_does_not_know_is_an_error_not_a_match():
    policy = {
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"s3:max-keys": "10"}},
            },
        ]
    }
    with pytest.raises(iam.PolicyError):
        iam.Checker({"f": [policy]}).allows("f", "s3:GetObject", "arn:aws:s3:::b/k")
