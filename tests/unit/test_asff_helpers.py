"""The helpers mappers use so that they never build an invalid finding."""

from __future__ import annotations

import json

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


# Every partition and a Region of each (botocore's partitions.json).
PARTITION_REGIONS = [
    ("aws", "us-east-1"),
    ("aws", "ap-southeast-2"),
    ("aws-cn", "cn-north-1"),
    ("aws-us-gov", "us-gov-west-1"),
    ("aws-iso", "us-iso-east-1"),
    ("aws-iso-b", "us-isob-east-1"),
    ("aws-iso-e", "eu-isoe-west-1"),
    ("aws-iso-f", "us-isof-south-1"),
]
TRIVY = "arn:aws:securityhub:us-east-1::product/aquasecurity/aquasecurity"


@pytest.mark.parametrize(
    ("arn", "account", "company", "product"),
    [
        # A partner listed without an account (Trivy, CrowdStrike Falcon, Prowler)
        (TRIVY, "", "aquasecurity", "aquasecurity"),
        (
            "arn:aws:securityhub:us-east-1::product/crowdstrike/crowdstrike-falcon",
            "",
            "crowdstrike",
            "crowdstrike-falcon",
        ),
        ("arn:aws:securityhub:eu-west-1::product/prowler/prowler", "", "prowler", "prowler"),
        # A partner product carrying the partner's account
        (
            "arn:aws:securityhub:us-east-1:123456789012:product/company/product",
            "123456789012",
            "company",
            "product",
        ),
        # An AWS service's product
        ("arn:aws:securityhub:us-east-1::product/aws/guardduty", "", "aws", "guardduty"),
        # The private default product
        (
            "arn:aws:securityhub:us-west-2:111122223333:product/111122223333/default",
            "111122223333",
            "111122223333",
            "default",
        ),
    ],
)
def test_every_product_arn_form_is_parsed(arn, account, company, product):
    parsed = asff.parse_product_arn(arn)
    assert parsed is not None
    assert (parsed.account, parsed.company, parsed.product) == (account, company, product)
    assert str(parsed) == arn
    assert asff.region_of(arn) == arn.split(":")[3]
    assert asff.PRODUCT_ARN_RE.fullmatch(arn)  # the public pattern agrees with the parser


@pytest.mark.parametrize(("partition", "region"), PARTITION_REGIONS)
def test_region_of_reads_every_form_in_every_partition(partition, region):
    for arn in (
        f"arn:{partition}:securityhub:{region}::product/aquasecurity/aquasecurity",
        f"arn:{partition}:securityhub:{region}:222222222222:product/generico/secure-pro",
        f"arn:{partition}:securityhub:{region}::product/aws/guardduty",
        f"arn:{partition}:securityhub:{region}:123456789012:product/123456789012/default",
    ):
        assert asff.region_of(arn) == region, arn


@pytest.mark.parametrize(("partition", "region"), PARTITION_REGIONS)
def test_product_arn_for_keeps_an_empty_partner_account_empty_in_every_partition(partition, region):
    assert asff.product_arn_for(region, "999999999999", TRIVY) == (
        f"arn:{partition}:securityhub:{region}::product/aquasecurity/aquasecurity"
    )


@pytest.mark.parametrize(("partition", "region"), PARTITION_REGIONS)
def test_product_arn_for_keeps_a_partner_account_and_the_default_in_every_partition(
    partition, region
):
    partner = "arn:aws:securityhub:us-west-2:222222222222:product/generico/secure-pro"
    assert asff.product_arn_for(region, "999999999999", partner) == (
        f"arn:{partition}:securityhub:{region}:222222222222:product/generico/secure-pro"
    )
    assert asff.product_arn_for(region, "999999999999") == (
        f"arn:{partition}:securityhub:{region}:999999999999:product/999999999999/default"
    )


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:securityhub:us-east-1:12345678901:product/aquasecurity/aquasecurity",  # 11
        "arn:aws:securityhub:us-east-1:1234567890123:product/acme/scanner",  # 13 digits
        "arn:aws:securityhub:us-east-1:12345678901a:product/acme/scanner",
        "arn:aws:securityhub:us-east-1::product/aquasecurity",  # no product
        "arn:aws:securityhub:us-east-1::product/aquasecurity/",
        "arn:aws:securityhub:us-east-1::product//aquasecurity",
        "arn:aws:securityhub:us-east-1::aquasecurity/aquasecurity",
        "arn:aws:securityhub:::product/aquasecurity/aquasecurity",  # no Region
        "arn:aws:s3:us-east-1::product/aquasecurity/aquasecurity",
        "arn:azure:securityhub:us-east-1::product/aquasecurity/aquasecurity",
        "arn:aws:securityhub:us-east-1::product/aquasecurity/aquasecurity/extra",
        " arn:aws:securityhub:us-east-1::product/aquasecurity/aquasecurity",
    ],
)
def test_malformed_product_arns_are_still_refused(arn, finding):
    assert asff.parse_product_arn(arn) is None
    assert asff.region_of(arn) is None
    with pytest.raises(ValueError, match="malformed"):
        asff.product_arn_for("us-east-1", "123456789012", arn)
    finding["ProductArn"] = arn
    (violation,) = asff.validate_finding(finding)
    assert violation.path == "ProductArn"
    # The value is named (an ARN holds no secret; its length alone told nothing)
    assert violation.reason.startswith(f"{arn[:200]!r} is not arn:<partition>:securityhub:")


def test_an_empty_account_product_arn_must_still_be_in_the_endpoints_region(finding):
    finding["ProductArn"] = TRIVY
    assert asff.validate_finding(finding, expected_region="us-east-1") == []
    (violation,) = asff.validate_finding(finding, expected_region="eu-west-1")
    assert violation.path == "ProductArn"
    assert "eu-west-1" in violation.reason


def test_an_aws_service_product_cannot_be_configured_as_ours():
    with pytest.raises(ValueError, match="AWS service"):
        asff.product_arn_for(
            "us-east-1", "123456789012", "arn:aws:securityhub:us-east-1::product/aws/guardduty"
        )


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


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_JSON)
def test_finding_json_is_json_dumps(value):
    assert asff.finding_json(value) == json.dumps(value)


def test_finding_json_refuses_what_json_dumps_refuses_with_the_same_error():
    circular: dict[str, object] = {"Id": "x"}
    circular["Resources"] = [circular]
    with pytest.raises(ValueError, match="Circular reference detected"):
        asff.finding_json(circular)
    with pytest.raises(TypeError, match="not JSON serializable"):
        asff.finding_json({"CreatedAt": object()})
