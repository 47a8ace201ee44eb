"""The status sync back role's statements (template.yaml, StatusSyncRole), evaluated as IAM
would on the requests hubrelay.syncback makes and on the ones it must never make; and the
responder, which no longer resolves anything, denied Resolved on the new Security Hub."""

from __future__ import annotations

from typing import Any

import pytest

from hubrelay_emulator import iam
from tests.support import role_checker

ACCOUNT = "123456789012"
HUB = f"arn:aws:securityhub:us-east-1:{ACCOUNT}:hub/default"
IDENTIFIER = {"ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty", "Id": "f-1"}
PARAMETERS = {
    "EnableStatusSync": "true",
    "EnableWebhook": "true",
    "WebhookSecretName": "hubrelay/webhook",
    "SecurityHubs": "Both",
}


@pytest.fixture(scope="module")
def checker() -> iam.Checker:
    return role_checker(("StatusSyncRole", "ResponderRole"), PARAMETERS)


def allowed(checker: iam.Checker, role: str, operation: str, request: dict[str, Any]) -> bool:
    context = iam.context_of("securityhub", operation, request)
    # BatchUpdateFindingsV2 is authorised on the hubv2 resource, BatchUpdateFindings on hub.
    (resource,) = iam.resources_of("securityhub", operation, request, "us-east-1", ACCOUNT)
    return checker.allows(role, "securityhub:BatchUpdateFindings", resource, context)


def test_resolving_with_a_note_and_the_reference_is_allowed(checker):
    request = {
        "FindingIdentifiers": [IDENTIFIER],
        "Workflow": {"Status": "RESOLVED"},
        "Note": {"Text": "hubrelay resolved this finding", "UpdatedBy": "hubrelay"},
        "UserDefinedFields": {"hubrelay:closed": "JIRA-1"},
    }
    assert allowed(checker, "StatusSyncRole", "BatchUpdateFindings", request)
    v2 = {"MetadataUids": ["uid-1"], "StatusId": 4, "Comment": "[hubrelay] closed [/hubrelay]"}
    assert allowed(checker, "StatusSyncRole", "BatchUpdateFindingsV2", v2)
    assert checker.allows("StatusSyncRole", "securityhub:GetFindings", HUB, {})
    (hub_v2,) = iam.resources_of("securityhub", "GetFindingsV2", {}, "us-east-1", ACCOUNT)
    assert hub_v2.endswith(f":{ACCOUNT}:hubv2/{iam.HUB_V2_ID}")
    assert checker.allows("StatusSyncRole", "securityhub:GetFindings", hub_v2, {})


@pytest.mark.parametrize(
    "change",
    [
        {"Workflow": {"Status": "NEW"}},
        {"Workflow": {"Status": "NOTIFIED"}},
        {"Workflow": {"Status": "SUPPRESSED"}},
        {"Severity": {"Label": "LOW"}},
        {"VerificationState": "FALSE_POSITIVE"},
        {"Types": ["Software and Configuration Checks"]},
    ],
)
def test_any_other_cspm_change_is_denied(checker, change):
    request = {"FindingIdentifiers": [IDENTIFIER], **change}
    assert not allowed(checker, "StatusSyncRole", "BatchUpdateFindings", request)


@pytest.mark.parametrize("status", [0, 1, 2, 3, 5, 99])
def test_any_other_v2_status_or_the_severity_is_denied(checker, status):
    request = {"MetadataUids": ["uid-1"], "StatusId": status}
    assert not allowed(checker, "StatusSyncRole", "BatchUpdateFindingsV2", request)
    severity = {"MetadataUids": ["uid-1"], "StatusId": 4, "SeverityId": 1}
    assert not allowed(checker, "StatusSyncRole", "BatchUpdateFindingsV2", severity)


def test_the_responder_may_no_longer_resolve_a_v2_finding(checker):
    assert allowed(
        checker, "ResponderRole", "BatchUpdateFindingsV2", {"MetadataUids": ["u"], "StatusId": 2}
    )
    assert not allowed(
        checker, "ResponderRole", "BatchUpdateFindingsV2", {"MetadataUids": ["u"], "StatusId": 4}
    )
