"""Trivy and Grype reports: Ids per scope, secrets, the scanner classes a report scans,
clean reports and unreadable results (issue 11)."""

from __future__ import annotations

import copy
import json
from typing import Any

from hubrelay.sources import Context, files, scan_class, scanner_reports
from tests.support import load_fixture

CTX = Context("123456789012", ("us-east-1",))


def convert(document: Any, key: str = "") -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    records, problems = files.read_records(document, None, "report.json", key=key)
    findings, errors = files.map_records(records, CTX)
    return findings, problems + errors


def ids(document: Any, key: str) -> list[str]:
    return [f["Id"] for f in convert(document, key)[0]]


def classes(name: str) -> dict[str, frozenset[str]]:
    _, complete, _ = scanner_reports.read_report(load_fixture(name), "r.json", "reports/prod")
    return complete


# --- Ids per scope -----------------------------------------------------------------------


def test_the_same_image_in_two_folders_has_two_sets_of_ids() -> None:
    for name in ("sources/trivy_image.json", "sources/grype_image.json"):
        report = load_fixture(name)
        prod = ids(report, "reports/prod/api.json")
        staging = ids(report, "reports/staging/api.json")
        assert prod
        assert len(prod) == len(staging)
        assert not set(prod) & set(staging), name


def test_a_rescan_of_the_same_report_in_its_folder_keeps_its_ids() -> None:
    for name in ("sources/trivy_image.json", "sources/grype_image.json"):
        report = load_fixture(name)
        # Another object of the same folder (a re-scan uploaded under a new name).
        assert ids(report, "reports/prod/api-1.json") == ids(report, "reports/prod/api-2.json")


def test_trivy_and_grype_ids_name_their_scanner_class() -> None:
    findings, _ = convert(load_fixture("sources/trivy_image.json"), "reports/prod/api.json")
    by_generator = {f["GeneratorId"]: f["Id"] for f in findings}
    assert by_generator["trivy/CVE-2023-5363"].startswith("hubrelay/trivy/vulnerability/CVE-")
    assert by_generator["trivy/AVD-DS-0002"].startswith("hubrelay/trivy/misconfiguration/")
    assert scan_class(by_generator["trivy/CVE-2023-5363"]) == "vulnerability"
    assert scan_class(by_generator["trivy/AVD-DS-0002"]) == "misconfiguration"
    grype, _ = convert(load_fixture("sources/grype_image.json"))
    assert {scan_class(f["Id"]) for f in grype} == {"vulnerability"}
    # Ids of earlier releases, and of other sources, have no class.
    assert scan_class("hubrelay/trivy/CVE-2023-5363/0123456789abcdef") == ""
    assert scan_class("hubrelay/sarif/secret/rule/0123456789abcdef") == ""


def test_the_same_vulnerability_in_two_files_is_two_findings() -> None:
    findings, errors = convert(load_fixture("sources/trivy_fs_odd_corners.json"))
    assert errors == []
    braces = [f for f in findings if f["GeneratorId"] == "trivy/CVE-2024-4068"]
    assert len({f["Id"] for f in braces}) == 2


# --- secrets -----------------------------------------------------------------------------


def test_trivy_secrets_become_findings_of_sensitive_data() -> None:
    findings, errors = convert(load_fixture("sources/trivy_image_secrets.json"))
    assert [(f["Severity"]["Label"], f["Types"]) for f in findings] == [
        ("CRITICAL", ["Sensitive Data Identifications/Security"]),
        ("HIGH", ["Sensitive Data Identifications/Passwords"]),
        ("CRITICAL", ["Sensitive Data Identifications/Security"]),
    ]
    key = findings[0]
    assert key["GeneratorId"] == "trivy/aws-access-key-id"
    assert key["Title"] == "AWS Access Key ID exposed in /app/config/settings.env (line 3)"
    assert key["Resources"][0]["Type"] == "Container"
    assert key["Resources"][0]["Details"]["Other"]["location"] == "line 3"
    assert key["ProductFields"]["trivy/category"] == "AWS"
    assert findings[1]["ProductFields"]["trivy/lines"] == "lines 7-8"
    # The same rule at the same line of another file is another finding.
    assert findings[0]["Id"] != findings[2]["Id"]
    # A secret without a RuleID cannot have a stable Id: an error, not a finding.
    assert errors == [("report.json#Results[2].Secrets[0]", "MappingError: secret without RuleID")]


def test_trivy_secret_findings_never_hold_the_matched_text() -> None:
    report = load_fixture("sources/trivy_image_secrets.json")
    findings, _ = convert(report)
    assert len(findings) == 3
    text = json.dumps(findings)
    for result in report["Results"]:
        for secret in result["Secrets"]:
            assert secret["Match"] not in text
            for line in secret.get("Code", {}).get("Lines", []):
                assert line["Content"] not in text
    assert "ci-deploy-bot" not in text
    assert "*****" not in text


def test_trivy_failed_misconfiguration_is_a_configuration_check() -> None:
    findings, _ = convert(load_fixture("sources/trivy_fs_odd_corners.json"))
    (misconfig,) = [f for f in findings if f["GeneratorId"] == "trivy/AVD-AWS-0086"]
    assert misconfig["Types"] == [
        "Software and Configuration Checks/Industry and Regulatory Standards"
    ]
    assert misconfig["RecordState"] == "ACTIVE"


# --- scanner classes, clean reports, unreadable results ---------------------------------


def test_the_classes_a_trivy_report_scans_are_inferred_from_its_results() -> None:
    scope = "trivy:reports/prod:registry.example.com/shop/api:1.4.2"
    assert classes("sources/trivy_image.json") == {
        scope: frozenset({"vulnerability", "misconfiguration"})
    }
    secrets_only = classes("sources/trivy_image_secrets.json")
    assert secrets_only == {scope: frozenset({"secret"})}
    # lang-pkgs with an empty array, config, and a license file (not mapped: not complete).
    assert classes("sources/trivy_fs_odd_corners.json") == {
        "trivy:reports/prod:.": frozenset({"vulnerability", "misconfiguration"})
    }
    assert classes("sources/grype_clean.json") == {
        "grype:reports/prod:registry.example.com/shop/api:1.4.3": frozenset({"vulnerability"})
    }


def test_a_clean_trivy_report_is_a_complete_scan_of_vulnerabilities() -> None:
    report = load_fixture("sources/trivy_clean.json")
    assert scanner_reports.detect_format(report) == "trivy"
    records, complete, errors = scanner_reports.read_report(report, "r.json", "reports/prod")
    assert (records, errors) == ([], [])
    assert complete == {
        "trivy:reports/prod:registry.example.com/shop/api:1.4.3": frozenset({"vulnerability"})
    }
    empty = {**report, "Results": []}
    assert scanner_reports.read_report(empty, "r.json", "reports/prod")[1] == complete


def test_a_result_that_is_not_an_object_is_an_error_and_no_complete_scan() -> None:
    report = load_fixture("sources/trivy_result_not_an_object.json")
    records, complete, errors = scanner_reports.read_report(report, "r.json", "reports/prod")
    assert records == []
    assert complete == {}
    assert errors == [("r.json#Results[0]", "result is not a JSON object (str)")]


def test_a_list_that_is_not_an_array_makes_only_its_class_incomplete() -> None:
    report = copy.deepcopy(load_fixture("sources/trivy_image.json"))
    report["Results"][0]["Vulnerabilities"] = {"VulnerabilityID": "CVE-2023-5363"}
    _, complete, errors = scanner_reports.read_report(report, "r.json", "f")
    assert complete == {
        "trivy:f:registry.example.com/shop/api:1.4.2": frozenset({"misconfiguration"})
    }
    assert errors == [("r.json#Results[0].Vulnerabilities", "Vulnerabilities is not an array")]
