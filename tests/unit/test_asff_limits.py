"""Every documented ASFF limit, checked on both sides of it."""

from __future__ import annotations

from typing import Any

import pytest

from hubrelay import asff
from hubrelay.errors import PermanentError
from hubrelay.settings import MAX_FINDING_BYTES
from tests.support import REQUIRED_FIELDS, nested


def set_path(finding: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    target: Any = finding
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
    if isinstance(target, list):
        target[int(parts[-1])] = value
    else:
        target[parts[-1]] = value


def other(n: int, value: str = "v") -> dict[str, str]:
    return {f"k{i}": value for i in range(n)}


# (field path, largest/valid value, value just over the limit)
LIMITS = [
    ("Id", "i" * 512, "i" * 513),
    ("GeneratorId", "g" * 512, "g" * 513),
    ("Title", "t" * 256, "t" * 257),
    ("Description", "d" * 1024, "d" * 1025),
    ("Severity.Original", "o" * 64, "o" * 65),
    ("Remediation.Recommendation.Text", "r" * 512, "r" * 513),
    (
        "Note",
        {"Text": "n" * 512, "UpdatedBy": "me", "UpdatedAt": "2026-01-01T00:00:00Z"},
        {"Text": "n" * 513, "UpdatedBy": "me", "UpdatedAt": "2026-01-01T00:00:00Z"},
    ),
    ("Types", ["Effects/Data Exposure"] * 50, ["Effects/Data Exposure"] * 51),
    (
        "Resources",
        [{"Type": "Other", "Id": f"r{i}"} for i in range(32)],
        [{"Type": "Other", "Id": f"r{i}"} for i in range(33)],
    ),
    ("Resources.0.Type", "T" * 256, "T" * 257),
    ("Resources.0.Region", "r" * 16, "r" * 17),
    ("ProductFields", other(50), other(51)),
    ("ProductFields", {"k" * 128: "v"}, {"k" * 129: "v"}),
    ("ProductFields", {"k": "v" * 2048}, {"k": "v" * 2049}),
    ("UserDefinedFields", other(50), other(51)),
    ("UserDefinedFields", {"k": "v" * 1024}, {"k": "v" * 1025}),
    ("Resources.0.Details.Other", other(50), other(51)),
    ("Resources.0.Details.Other", {"k": "v" * 1023}, {"k": "v" * 1024}),
    ("Confidence", 100, 101),
    ("Criticality", 0, -1),
    ("Severity.Normalized", 100, 101),
    ("Malware", [{"Name": f"m{i}"} for i in range(5)], [{"Name": f"m{i}"} for i in range(6)]),
    (
        "RelatedFindings",
        [{"ProductArn": "p", "Id": str(i)} for i in range(10)],
        [{"ProductArn": "p", "Id": str(i)} for i in range(11)],
    ),
    ("Compliance.RelatedRequirements", ["r"] * 32, ["r"] * 33),
    ("AwsAccountId", "123456789012", "12345678901"),
    ("AwsAccountId", "123456789012", "12345678901a"),
    ("CreatedAt", "2026-11-01T10:00:00.123456789+18:00", "2026-11-01T10:00:00.1234567890Z"),
    ("UpdatedAt", "2026-11-01T10:00:00-05:30", "2026-11-01 10:00:00"),
    ("UpdatedAt", "2026-11-01T10:00:00Z", "2026-11-01T10:00:00+19:00"),
    ("RecordState", "ARCHIVED", "DELETED"),
    ("Workflow", {"Status": "SUPPRESSED"}, {"Status": "CLOSED"}),
    ("Compliance", {"Status": "NOT_AVAILABLE"}, {"Status": "PASS"}),
    ("VerificationState", "BENIGN_POSITIVE", "MAYBE"),
    ("Severity.Label", "INFORMATIONAL", "INFO"),
    ("Resources.0.Partition", "aws-us-gov", "azure"),
    ("Title", "x", " \t\n"),
    ("Types", ["Software and Configuration Checks/Vulnerabilities/CVE"], ["TTPs/a/b/c"]),
    ("Types", ["Sensitive Data Identifications"], ["Policy:IAMUser/S3BucketPublic"]),
    (
        "ProductArn",
        "arn:aws-cn:securityhub:cn-north-1:123456789012:product/acme/scanner",
        "arn:aws-cn:securityhub:cn-north-1:12345678901:product/acme/scanner",
    ),
    # No account at all is a form Security Hub uses (product/aquasecurity/aquasecurity).
    (
        "ProductArn",
        "arn:aws:securityhub:us-east-1::product/acme/scanner",
        "arn:aws:securityhub:us-east-1:0:product/acme/scanner",
    ),
    (
        "ProductArn",
        "arn:aws:securityhub:us-east-1:123456789012:product/acme/scanner",
        "arn:aws:securityhub:us-east-1:123456789012:acme/scanner",
    ),
]


@pytest.mark.parametrize(
    ("path", "ok", "bad"), LIMITS, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(LIMITS)]
)
def test_limit_accepts_the_edge_and_refuses_one_past_it(finding, path, ok, bad):
    # Given a valid finding with the field at its limit
    set_path(finding, path, ok)
    assert asff.validate_finding(finding) == []
    # When the field goes one past the limit
    set_path(finding, path, bad)
    violations = asff.validate_finding(finding)
    # Then exactly that field is named, with the finding Id
    assert violations, f"{path}={bad!r:.60} was accepted"
    top = path.split(".")[0]
    assert all(v.finding_id == finding["Id"][:120] or path == "Id" for v in violations)
    assert any(v.path.startswith(top) for v in violations), [str(v) for v in violations]


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_each_required_field_is_named_when_missing(finding, field):
    del finding[field]
    violations = asff.validate_finding(finding)
    assert any(v.path == field and "required" in v.reason for v in violations), violations


def test_severity_label_or_normalized_is_required(finding):
    del finding["Severity"]
    del finding["FindingProviderFields"]
    assert [v.path for v in asff.validate_finding(finding)] == ["Severity"]
    finding["Severity"] = {"Normalized": 40}
    assert asff.validate_finding(finding) == []


def test_finding_size_limit_is_240_kb_on_the_wire(finding):
    # Given a finding padded to exactly 240 KB as botocore serializes it
    finding["ProductFields"]["pad"] = ""
    finding["ProductFields"]["pad"] = "p" * (MAX_FINDING_BYTES - asff.finding_size(finding))
    assert asff.finding_size(finding) == MAX_FINDING_BYTES
    # (the 2048-character field limit is a separate rule; only size is under test here)
    size_violations = [v for v in asff.validate_finding(finding) if v.reason == "finding too large"]
    assert size_violations == []
    # When it grows by one byte
    finding["ProductFields"]["pad"] += "p"
    size_violations = [v for v in asff.validate_finding(finding) if v.reason == "finding too large"]
    # Then it is refused with the limit and its size
    assert len(size_violations) == 1
    assert size_violations[0].limit == f"{MAX_FINDING_BYTES} B"
    assert size_violations[0].size == MAX_FINDING_BYTES + 1


def test_string_over_32768_characters_is_refused_anywhere(finding):
    finding["Resources"][0]["Details"]["AwsEc2Instance"] = {"ImageId": "a" * 32_768}
    assert asff.validate_finding(finding) == []
    finding["Resources"][0]["Details"]["AwsEc2Instance"] = {"ImageId": "a" * 32_769}
    (violation,) = asff.validate_finding(finding)
    assert violation.path == "Resources[0].Details.AwsEc2Instance.ImageId"
    assert violation.size == 32_769


def test_unknown_fields_are_refused_by_botocore_validation(finding):
    finding["Severityy"] = {"Label": "LOW"}
    (violation,) = asff.validate_finding(finding)
    assert "Unknown parameter" in violation.reason


def test_wrong_type_is_named_with_its_path(finding):
    finding["Resources"][0]["Id"] = 42
    (violation,) = asff.validate_finding(finding)
    assert violation.path == "Resources[0].Id"
    assert "Invalid type" in violation.reason


def test_product_arn_region_can_be_required_to_match_the_endpoint(finding):
    assert asff.validate_finding(finding, expected_region="us-east-1") == []
    (violation,) = asff.validate_finding(finding, expected_region="eu-west-1")
    assert violation.path == "ProductArn"
    assert "eu-west-1" in violation.reason


def test_violation_message_names_id_path_limit_and_size(finding):
    finding["Title"] = "t" * 300
    (violation,) = asff.validate_finding(finding)
    assert str(violation) == (
        f"finding {finding['Id']!r}: Title: wrong length (limit 1..256 characters, got 300)"
    )


@pytest.mark.parametrize("value", [None, 7, "text", ["list"]])
def test_non_object_finding_is_refused_not_crashed(value):
    (violation,) = asff.validate_finding(value)
    assert "not a JSON object" in violation.reason


def test_check_finding_raises_with_every_violation(finding):
    finding["Title"] = ""
    finding["AwsAccountId"] = "1"
    with pytest.raises(asff.InvalidFindingError) as caught:
        asff.check_finding(finding)
    assert {v.path for v in caught.value.violations} >= {"Title", "AwsAccountId"}
    # Retrying cannot fix it; callers that catch ValueError still do.
    assert isinstance(caught.value, PermanentError)
    assert isinstance(caught.value, ValueError)


# --- values no JSON loader lets through, built in code -----------------------------------


@pytest.mark.parametrize(
    ("path", "value", "where", "reason"),
    [
        ("Confidence", 10**400, "Confidence", "integer of 401 digits (at most 64)"),
        ("Severity.Normalized", -(10**5000), "Severity.Normalized", "integer of 5001 digits"),
        ("ProductFields.big", 10**400, "ProductFields.big", "integer of 401 digits"),
        ("Resources.0.Details.Other.x", nested(100_000), "Resources[0].Details.Other.x", "nested"),
        ("Note", {"Text": nested(70)}, "Note.Text", "nested too deeply (more than 64 levels)"),
    ],
    ids=["confidence-401", "normalized-5001", "product-field", "100000-deep", "70-deep"],
)
def test_a_value_no_loader_would_pass_is_a_violation_never_an_error(
    finding, path, value, where, reason
):
    set_path(finding, path, value)
    (violation,) = asff.validate_finding(finding)
    assert violation.path.startswith(where)
    assert violation.reason.startswith(reason)
    assert str(violation).startswith(f"finding {finding['Id']!r}: {where}")
    with pytest.raises(asff.InvalidFindingError):
        asff.check_finding(finding)


def test_a_finding_that_holds_itself_is_a_violation(finding):
    finding["Resources"][0]["Details"] = {"Other": finding}
    (violation,) = asff.validate_finding(finding)
    assert "nested too deeply" in violation.reason


def test_a_large_integer_within_the_policy_is_checked_against_its_range(finding):
    finding["Confidence"] = 10**60
    (violation,) = asff.validate_finding(finding)
    assert (violation.path, violation.reason, violation.size) == (
        "Confidence",
        "out of range",
        10**60,
    )
