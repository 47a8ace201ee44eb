"""Scanner report mappers (SARIF 2.1.0, Trivy JSON, Grype JSON, ASFF) on realistic samples."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubrelay import asff
from hubrelay.sources import Context, MappingError, files, scanner_reports
from tests.support import FIXTURES, load_fixture

CTX = Context("123456789012", ("us-east-1", "eu-west-1"), "", datetime(2026, 11, 1, tzinfo=UTC))


def convert(document: Any, fmt: str | None = None) -> tuple[list[dict[str, Any]], list[Any]]:
    records, errors = files.read_records(document, fmt, "sample")
    findings, problems = files.map_records(records, CTX)
    return findings, errors + problems


def by_generator(findings: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for finding in findings:
        out.setdefault(finding["GeneratorId"], []).append(finding)
    return out


# --- format detection ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sources/sarif_multi_run.sarif.json", "sarif"),
        ("sources/trivy_image.json", "trivy"),
        ("sources/grype_image.json", "grype"),
        ("findings/valid.json", "asff"),
    ],
)
def test_format_is_detected_from_the_document(name: str, expected: str) -> None:
    document = load_fixture(name)
    if expected == "asff" and isinstance(document, dict) and "Findings" not in document:
        document = [document]
    assert scanner_reports.detect_format(document) == expected


def test_unknown_document_is_refused_with_the_formats_it_could_be() -> None:
    with pytest.raises(MappingError, match=r"SARIF 2\.1\.0, Trivy JSON, Grype JSON or ASFF"):
        scanner_reports.detect_format(load_fixture("sources/not_a_report.json"))


def test_sarif_of_another_version_is_refused() -> None:
    document = load_fixture("sources/sarif_multi_run.sarif.json")
    document["version"] = "2.0.0"
    with pytest.raises(MappingError, match=r"not a SARIF 2.1.0 log \(version '2.0.0'\)"):
        scanner_reports.parse_report(document, "x", "", "sarif")


# --- SARIF -----------------------------------------------------------------------------


def test_sarif_multi_run_maps_every_result_of_every_run() -> None:
    findings, errors = convert(load_fixture("sources/sarif_multi_run.sarif.json"))
    assert errors == []
    tools = {f["ProductFields"]["sarif/tool"] for f in findings}
    assert tools == {"CodeQL", "Semgrep OSS"}
    assert len(findings) == 7  # duplicates are merged later, by the collector


def test_sarif_rule_and_artifact_indexes_and_message_arguments_are_resolved() -> None:
    findings, _ = convert(load_fixture("sources/sarif_multi_run.sarif.json"))
    sql = by_generator(findings)["CodeQL/js/sql-injection"][0]
    # Given ruleIndex 0, artifact index 0 and a message id with two arguments
    assert sql["Title"] == "CodeQL: Database query built from user-controlled sources"
    assert sql["Description"].startswith(
        "This query depends on a user-provided value from req.query.id."
    )
    assert sql["Resources"][0]["Id"] == "https://github.com/example/shop/src/db/orders.js"
    assert sql["Resources"][0]["Details"]["Other"]["startLine"] == "42"
    # security-severity 8.8 is a CVSS-like score: HIGH
    assert sql["Severity"] == {"Label": "HIGH", "Original": "8.8"}
    assert sql["Types"] == ["Software and Configuration Checks/Vulnerabilities/CWE"]
    assert sql["Remediation"]["Recommendation"]["Url"].startswith("https://codeql.github.com/")
    unused = by_generator(findings)["CodeQL/js/unused-local-variable"][0]
    assert unused["Resources"][0]["Id"].endswith("src/util/format.js")  # rule.index + artifact 1
    assert unused["Severity"]["Label"] == "LOW"  # the rule's default level "note"


def test_sarif_result_without_optional_fields_uses_the_default_level() -> None:
    findings, _ = convert(load_fixture("sources/sarif_multi_run.sarif.json"))
    bare = by_generator(findings)["Semgrep OSS/python.lang.best-practice.open-never-closed"][0]
    assert bare["Severity"] == {"Label": "MEDIUM", "Original": "warning"}  # SARIF default
    assert bare["Resources"][0]["Type"] == "Other"


def test_sarif_duplicate_results_share_one_id() -> None:
    findings, _ = convert(load_fixture("sources/sarif_multi_run.sarif.json"))
    sql = by_generator(findings)["CodeQL/js/sql-injection"]
    active = [f["Id"] for f in sql if f["RecordState"] == "ACTIVE"]
    assert len(active) == 2
    assert active[0] == active[1]


def test_sarif_suppressed_and_passing_results_are_resolved() -> None:
    findings, _ = convert(load_fixture("sources/sarif_multi_run.sarif.json"))
    archived = {f["GeneratorId"] for f in findings if f["RecordState"] == "ARCHIVED"}
    assert archived == {
        "CodeQL/js/sql-injection",
        "Semgrep OSS/python.lang.security.audit.insecure-hash",
    }


def test_sarif_rule_index_out_of_range_is_a_clear_record_error() -> None:
    document = load_fixture("sources/sarif_multi_run.sarif.json")
    document["runs"][0]["results"][0]["ruleIndex"] = 9
    findings, errors = convert(document)
    assert len(findings) == 6
    assert errors == [
        ("sample#runs[0].results[0]", "MappingError: ruleIndex 9 is not in the run's 2 rules")
    ]


def test_sarif_huge_description_is_truncated_with_a_marker() -> None:
    document = load_fixture("sources/sarif_multi_run.sarif.json")
    document["runs"][1]["results"][0]["message"]["text"] = "eval " * 50_000
    findings, errors = convert(document)
    assert errors == []
    description = by_generator(findings)["Semgrep OSS/python.lang.security.audit.eval-detected"][0][
        "Description"
    ]
    assert len(description) == 1024
    assert description.endswith("(truncated)")


def test_sarif_ids_are_stable_across_reports() -> None:
    first, _ = convert(load_fixture("sources/sarif_multi_run.sarif.json"))
    again, _ = convert(load_fixture("sources/sarif_multi_run.sarif.json"))
    assert [f["Id"] for f in first] == [f["Id"] for f in again]


def test_sarif_failed_invocation_is_not_a_complete_scan() -> None:
    document = load_fixture("sources/sarif_multi_run.sarif.json")
    _, complete, _ = scanner_reports.parse_report(document, "x", "repo", "sarif")
    assert len(complete) == 2
    document["runs"][0]["invocations"][0]["executionSuccessful"] = False
    _, complete, _ = scanner_reports.parse_report(document, "x", "repo", "sarif")
    assert len(complete) == 1


@settings(max_examples=60, deadline=None)
@given(
    result=st.dictionaries(
        st.sampled_from(["ruleId", "ruleIndex", "message", "level", "kind", "locations", "rule"]),
        st.one_of(
            st.none(),
            st.integers(-3, 5),
            st.text(max_size=20),
            st.lists(st.integers(), max_size=2),
            st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
        ),
    )
)
def test_sarif_any_result_is_mapped_validly_or_refused_with_a_reason(
    result: dict[str, Any],
) -> None:
    document = load_fixture("sources/sarif_multi_run.sarif.json")
    document["runs"] = [{**document["runs"][0], "results": [result]}]
    findings, errors = convert(document)
    assert len(findings) + len(errors) == 1
    for finding in findings:
        assert asff.validate_finding(finding) == []


# --- Trivy -----------------------------------------------------------------------------


def test_trivy_prefers_the_severity_source_v3_score() -> None:
    findings, _ = convert(load_fixture("sources/trivy_image.json"))
    openssl = by_generator(findings)["trivy/CVE-2023-5363"][0]
    assert openssl["Severity"] == {"Label": "HIGH", "Original": "7.5"}  # nvd 7.5, not redhat 5.9
    vulnerability = openssl["Vulnerabilities"][0]
    assert vulnerability["Cvss"][0] == {
        "Version": "3.1",
        "BaseScore": 7.5,
        "Source": "nvd",
        "BaseVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
    }
    assert vulnerability["VulnerablePackages"][0] == {
        "Name": "libcrypto3",
        "Version": "3.1.3-r0",
        "FixedInVersion": "3.1.4-r0",
        "PackageManager": "alpine",
    }
    assert vulnerability["FixAvailable"] == "YES"
    resource = openssl["Resources"][0]
    assert resource["Type"] == "Container"
    assert resource["Id"] == "registry.example.com/shop/api:1.4.2"
    assert resource["Details"]["Other"]["package"] == "libcrypto3"
    assert openssl["Remediation"]["Recommendation"]["Text"] == "Upgrade libcrypto3 to 3.1.4-r0."


def test_trivy_cvss_v2_only_and_unknown_severity() -> None:
    findings, _ = convert(load_fixture("sources/trivy_image.json"))
    python = by_generator(findings)["trivy/CVE-2007-4559"][0]
    assert python["Severity"] == {"Label": "MEDIUM", "Original": "6.8"}
    assert python["Vulnerabilities"][0]["Cvss"][0]["Version"] == "2.0"
    unknown = by_generator(findings)["trivy/CVE-2023-9999"][0]
    assert unknown["Severity"] == {"Label": "INFORMATIONAL", "Original": "UNKNOWN"}


def test_trivy_not_affected_is_resolved_and_bad_entries_are_reported() -> None:
    findings, errors = convert(load_fixture("sources/trivy_image.json"))
    assert by_generator(findings)["trivy/CVE-2022-48174"][0]["RecordState"] == "ARCHIVED"
    assert errors == [
        (
            "sample#Results[0].Vulnerabilities[4]",
            "MappingError: vulnerability without VulnerabilityID or PkgName",
        ),
    ]


def test_trivy_failed_misconfiguration_is_a_finding_and_a_pass_is_resolved() -> None:
    findings, _ = convert(load_fixture("sources/trivy_image.json"))
    root = by_generator(findings)["trivy/AVD-DS-0002"][0]
    assert root["RecordState"] == "ACTIVE"
    assert root["Severity"]["Label"] == "HIGH"
    assert root["Remediation"]["Recommendation"]["Text"].startswith("Add 'USER")
    assert by_generator(findings)["trivy/AVD-DS-0005"][0]["RecordState"] == "ARCHIVED"


# --- Grype -----------------------------------------------------------------------------


def test_grype_maps_cvss_fix_state_and_package() -> None:
    findings, errors = convert(load_fixture("sources/grype_image.json"))
    assert [e[0] for e in errors] == ["sample#matches[4]"]
    net = by_generator(findings)["grype/CVE-2023-44487"][0]
    assert net["Severity"] == {"Label": "HIGH", "Original": "7.5"}
    assert net["Vulnerabilities"][0]["FixAvailable"] == "YES"
    assert net["Vulnerabilities"][0]["VulnerablePackages"][0]["FilePath"] == "/usr/local/bin/api"
    assert net["Resources"][0]["Details"]["Container"]["ImageName"].endswith("worker:2.0.1")


def test_grype_uses_related_nvd_scores_newest_version_first() -> None:
    findings, _ = convert(load_fixture("sources/grype_image.json"))
    jinja = by_generator(findings)["grype/GHSA-xxxx-2019"][0]
    assert jinja["Severity"] == {"Label": "HIGH", "Original": "8.6"}  # CVSS 3.0 over 2.0
    assert jinja["Vulnerabilities"][0]["RelatedVulnerabilities"] == ["CVE-2019-10906"]
    assert jinja["Vulnerabilities"][0]["FixAvailable"] == "NO"
    assert jinja["Description"].startswith("In Pallets Jinja")


def test_grype_negligible_and_unknown_severities() -> None:
    findings, _ = convert(load_fixture("sources/grype_image.json"))
    assert by_generator(findings)["grype/CVE-2005-2541"][0]["Severity"]["Label"] == "INFORMATIONAL"
    assert by_generator(findings)["grype/CVE-2024-0001"][0]["Severity"] == {
        "Label": "INFORMATIONAL",
        "Original": "Unknown",
    }


# --- ASFF passthrough ------------------------------------------------------------------


def test_asff_passthrough_is_restamped_with_our_product_and_account(
    finding: dict[str, Any],
) -> None:
    finding["ProductArn"] = "arn:aws:securityhub:eu-west-1:999999999999:product/other/thing"
    finding["AwsAccountId"] = "999999999999"
    findings, errors = convert({"Findings": [finding]})
    assert errors == []
    assert findings[0]["ProductArn"] == CTX.product_arn_in("eu-west-1")
    assert findings[0]["AwsAccountId"] == "123456789012"


TRIVY_PRODUCT = "arn:aws:securityhub:us-east-1::product/aquasecurity/aquasecurity"


def trivy_asff(region: str = "us-east-1") -> dict[str, Any]:
    """Trivy's ASFF output (contrib/asff.tpl) as if run with AWS_REGION=`region`."""
    document: dict[str, Any] = load_fixture("sources/trivy_asff.json")
    for finding in document["Findings"]:
        finding["ProductArn"] = finding["ProductArn"].replace("us-east-1", region)
        finding["Resources"][0]["Region"] = region
    return document


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_trivy_asff_passes_through_into_its_own_region(region: str) -> None:
    findings, errors = convert(trivy_asff(region))
    assert errors == []
    assert [f["ProductArn"] for f in findings] == [CTX.product_arn_in(region)] * 2
    assert [f["Id"] for f in findings] == [
        f["Id"] for f in load_fixture("sources/trivy_asff.json")["Findings"]
    ]


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_trivy_asff_passes_through_with_trivys_own_product_configured(region: str) -> None:
    # Given the stack configured with Trivy's product ARN, which has no account
    ctx = Context("123456789012", ("us-east-1", "eu-west-1"), TRIVY_PRODUCT, CTX.now)
    records, problems = files.read_records(trivy_asff(region), None, "trivy.asff")
    # When the ASFF records are mapped
    findings, errors = files.map_records(records, ctx)
    # Then none is refused, and each keeps the empty account in its own Region
    assert problems == errors == []
    assert {f["ProductArn"] for f in findings} == {
        f"arn:aws:securityhub:{region}::product/aquasecurity/aquasecurity"
    }
    assert {f["AwsAccountId"] for f in findings} == {"123456789012"}


def test_asff_passthrough_revalidates(finding: dict[str, Any]) -> None:
    broken = copy.deepcopy(finding)
    broken["Title"] = "x" * 300
    findings, errors = convert([finding, broken], "asff")
    assert len(findings) == 1
    assert "Title: wrong length" in errors[0][1]


def test_fixture_files_are_json() -> None:
    for path in (FIXTURES / "sources").glob("*.json"):
        if path.name != "truncated.sarif.json":
            json.loads(path.read_text())
