"""The helpers mappers use so that they never build an invalid finding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubrelay import asff


def test_truncate_cuts_to_the_limit_and_ends_with_the_marker():
    text = "word " * 500
    cut = asff.truncate(text, 1024)
    assert len(cut) <= 1024
    assert cut.endswith("(truncated)")
    assert asff.truncate("short", 1024) == "short"


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=12, max_value=2048))
def test_truncate_never_exceeds_the_limit(text, limit):
    cut = asff.truncate(text, limit)
    assert len(cut) <= limit
    assert cut == text or cut.endswith("(truncated)")


@pytest.mark.parametrize(
    ("raw", "fallback", "expected"),
    [
        (
            "Policy:IAMUser/S3BucketPublic",
            "Effects/Data Exposure",
            "Effects/Data Exposure/Policy:IAMUser-S3BucketPublic",
        ),
        ("TTPs/Initial Access/Phishing/Spear", "Effects", "TTPs/Initial Access/Phishing-Spear"),
        (
            "Software and Configuration Checks/Vulnerabilities/CVE",
            "Effects",
            "Software and Configuration Checks/Vulnerabilities/CVE",
        ),
        ("Recon:EC2/PortProbeUnprotectedPort", "TTPs", "TTPs/Recon:EC2-PortProbeUnprotectedPort"),
        ("", "Unusual Behaviors/Process", "Unusual Behaviors/Process"),
    ],
)
def test_normalize_type_makes_any_classifier_valid(raw, fallback, expected):
    assert asff.normalize_type(raw, fallback) == expected
    assert asff.is_valid_type(expected)


def test_normalize_type_refuses_a_fallback_without_namespace():
    with pytest.raises(ValueError, match="namespace"):
        asff.normalize_type("x", "Nonsense/Category")


@given(st.text(min_size=1, max_size=200))
def test_normalized_types_always_pass_validation(raw):
    value = asff.normalize_type(raw, "Effects/Data Exposure")
    assert asff.is_valid_type(value)


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (0, "INFORMATIONAL"),
        (0.1, "LOW"),
        (3.9, "LOW"),
        (4.0, "MEDIUM"),
        (6.9, "MEDIUM"),
        (7.0, "HIGH"),
        (8.9, "HIGH"),
        (9.0, "CRITICAL"),
        (10, "CRITICAL"),
    ],
)
def test_severity_from_cvss_follows_the_qualitative_bands(score, label):
    assert asff.severity_from_cvss(score) == {"Label": label, "Original": f"{score:g}"}


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (0, "INFORMATIONAL"),
        (1, "LOW"),
        (39, "LOW"),
        (40, "MEDIUM"),
        (69, "MEDIUM"),
        (70, "HIGH"),
        (89, "HIGH"),
        (90, "CRITICAL"),
        (100, "CRITICAL"),
    ],
)
def test_severity_from_score_follows_the_normalized_bands(score, label):
    assert asff.severity_from_score(score)["Label"] == label


@pytest.mark.parametrize("bad", [-0.1, 10.1])
def test_severity_from_cvss_refuses_scores_outside_0_to_10(bad):
    with pytest.raises(ValueError, match="CVSS"):
        asff.severity_from_cvss(bad)


@pytest.mark.parametrize(
    ("label", "expected"),
    [("critical", "CRITICAL"), ("Moderate", "MEDIUM"), ("info", "INFORMATIONAL"), ("HIGH", "HIGH")],
)
def test_severity_from_label_accepts_common_vendor_labels(label, expected):
    severity = asff.severity_from_label(label)
    assert severity == {"Label": expected, "Original": label}


def test_severity_from_unknown_label_raises_or_uses_the_default():
    with pytest.raises(ValueError, match="unknown severity"):
        asff.severity_from_label("spicy")
    assert asff.severity_from_label("spicy", default="MEDIUM")["Label"] == "MEDIUM"


def test_product_arn_defaults_to_the_private_default_product():
    assert asff.product_arn_for("eu-west-1", "123456789012") == (
        "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
    )


def test_partner_product_arn_keeps_its_home_account_and_changes_only_region():
    partner = "arn:aws:securityhub:us-west-2:222222222222:product/generico/secure-pro"
    assert asff.product_arn_for("eu-central-1", "999999999999", partner) == (
        "arn:aws:securityhub:eu-central-1:222222222222:product/generico/secure-pro"
    )
    assert asff.product_arn_for("cn-north-1", "999999999999", partner).startswith("arn:aws-cn:")


def test_build_finding_produces_a_valid_finding_from_oversized_input():
    # Given native data that breaks every limit a mapper might meet
    finding = asff.build_finding(
        finding_id="vendor/1",
        product_arn=asff.product_arn_for("us-east-1", "123456789012"),
        generator_id=" ",
        account_id="123456789012",
        title="T" * 1000,
        description="",
        resources=[{"Type": "Other", "Id": f"r{i}"} for i in range(40)],
        severity=asff.severity_from_cvss(9.8),
        types=["Policy:IAMUser/S3BucketPublic"] * 3,
        type_fallback="Effects/Data Exposure",
        created_at=asff.timestamp(),
        product_fields={f"field{i}": "v" * 5000 for i in range(80)},
        remediation_text="R" * 900,
    )
    # Then the result is valid and says what was cut
    assert asff.validate_finding(finding) == []
    assert finding["Title"].endswith("(truncated)")
    assert finding["ProductFields"]["hubrelay/omittedResources"] == "8"
    assert len(finding["ProductFields"]) == 50
    assert finding["FindingProviderFields"]["Severity"]["Label"] == "CRITICAL"
    assert finding["Types"] == ["Effects/Data Exposure/Policy:IAMUser-S3BucketPublic"]


def test_timestamp_is_rfc3339_utc_with_milliseconds():
    assert asff.TIMESTAMP_RE.fullmatch(asff.timestamp())
