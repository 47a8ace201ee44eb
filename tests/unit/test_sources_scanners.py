"""Scanner report mappers (SARIF 2.1.0, Trivy JSON, Grype JSON, ASFF) on realistic samples."""

from __future__ import annotations

import copy
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubrelay import asff
from hubrelay.sources import (
    CLASSES,
    Context,
    MappingError,
    files,
    reports,
    scanner_reports,
    streamjson,
)
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
    # Given a ruleIndex that resolves to nothing and no ruleId to fall back on
    document["runs"][0]["results"][0]["ruleIndex"] = 9
    del document["runs"][0]["results"][0]["ruleId"]
    findings, errors = convert(document)
    assert len(findings) == 6
    assert errors == [
        ("sample#runs[0].results[0]", "MappingError: ruleIndex 9 is not in the run's 2 rules")
    ]


def test_sarif_rule_index_out_of_range_falls_back_to_the_rule_id() -> None:
    document = load_fixture("sources/sarif_multi_run.sarif.json")
    document["runs"][0]["results"][0]["ruleIndex"] = 9  # ruleId "js/sql-injection" stays
    findings, errors = convert(document)
    assert errors == []
    assert len(findings) == 7
    sql = by_generator(findings)["CodeQL/js/sql-injection"]
    assert {f["Title"] for f in sql} == {
        "CodeQL: Database query built from user-controlled sources"
    }
    assert {f["Severity"]["Label"] for f in sql} == {"HIGH"}  # the rule's security-severity


def test_sarif_rule_index_into_empty_driver_rules_uses_the_rule_id() -> None:
    # Given CodeQL's layout: driver rules empty, the rules in a query-pack extension, two
    # results with only ruleId and ruleIndex, one with a full rule reference
    findings, errors = convert(load_fixture("sources/codeql_rules_in_extensions.sarif.json"))
    assert errors == []
    assert len(findings) == 3
    sql = by_generator(findings)["CodeQL/js/sql-injection"]
    assert len(sql) == 2
    for finding in sql:
        assert finding["Title"] == "CodeQL: Database query built from user-controlled sources"
        assert finding["Severity"] == {"Label": "HIGH", "Original": "8.8"}
        assert finding["Types"] == ["Software and Configuration Checks/Vulnerabilities/CWE"]
    xss = by_generator(findings)["CodeQL/js/reflected-xss"][0]
    assert xss["Title"] == "CodeQL: Reflected cross-site scripting"
    assert xss["Severity"] == {"Label": "MEDIUM", "Original": "6.1"}


def test_sarif_same_fingerprint_in_two_files_is_two_findings() -> None:
    # CodeQL's primaryLocationLineHash hashes the line's text, not its file: the same line
    # in orders.js and invoices.js carries the same fingerprint.
    findings, _ = convert(load_fixture("sources/codeql_rules_in_extensions.sarif.json"))
    sql = by_generator(findings)["CodeQL/js/sql-injection"]
    assert len({f["Id"] for f in sql}) == 2
    assert {f["Resources"][0]["Id"] for f in sql} == {
        "https://github.com/example/shop/src/routes/orders.js",
        "https://github.com/example/shop/src/routes/invoices.js",
    }


def test_sarif_rescan_of_a_moved_result_keeps_its_id() -> None:
    document = load_fixture("sources/codeql_rules_in_extensions.sarif.json")
    first, _ = convert(document)
    # Given lines added above the result: same fingerprint, same file, another line
    region = document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
    region["startLine"] = 40
    again, _ = convert(document)
    assert [f["Id"] for f in again] == [f["Id"] for f in first]
    assert again[0]["Resources"][0]["Details"]["Other"]["startLine"] == "40"


def test_sarif_ids_of_results_without_fingerprints_did_not_change() -> None:
    # Results without fingerprints were already identified by their location: the Ids
    # hubrelay sent before the artifact URI joined the fingerprint must stay the same.
    findings, _ = convert(load_fixture("sources/sarif_multi_run.sarif.json"))
    ids = {f["GeneratorId"]: f["Id"] for f in findings if f["RecordState"] == "ACTIVE"}
    assert ids["CodeQL/js/unused-local-variable"] == (
        "hubrelay/sarif/CodeQL/js/unused-local-variable/2fd75c9d5139d28b12a315c2613af640"
    )
    assert ids["Semgrep OSS/python.lang.security.audit.eval-detected"] == (
        "hubrelay/sarif/Semgrep OSS/python.lang.security.audit.eval-detected/"
        "5954c313a9032226d1f47bbc7fbe6dbd"
    )


def test_sarif_result_without_any_rule_is_a_finding_of_the_tool() -> None:
    # Given gitleaks 7: no ruleId, no rule; the rule is named only in the message text
    findings, errors = convert(load_fixture("sources/gitleaks7.sarif.json"))
    assert errors == []
    assert [f["GeneratorId"] for f in findings] == ["Gitleaks", "Gitleaks"]
    assert [f["Title"] for f in findings] == [
        "Gitleaks: AWS Access Key secret detected",
        "Gitleaks: Slack Webhook secret detected",
    ]
    assert all(f["Id"].startswith("hubrelay/sarif/Gitleaks/") for f in findings)
    assert len({f["Id"] for f in findings}) == 2
    assert all("sarif/ruleId" not in f["ProductFields"] for f in findings)
    assert findings[0]["Resources"][0]["Details"]["Other"]["uri"] == "deploy/upload.sh"
    again, _ = convert(load_fixture("sources/gitleaks7.sarif.json"))
    assert [f["Id"] for f in again] == [f["Id"] for f in findings]


def test_sarif_rule_less_title_is_truncated_as_asff_requires() -> None:
    document = load_fixture("sources/gitleaks7.sarif.json")
    document["runs"][0]["results"][0]["message"]["text"] = "Generic API Key " * 40
    findings, errors = convert(document)
    assert errors == []
    assert len(findings[0]["Title"]) == 256
    assert findings[0]["Title"].endswith("(truncated)")
    assert asff.validate_finding(findings[0]) == []


@pytest.mark.parametrize("results", [42, "none", {"count": 0}, True])
def test_sarif_results_that_are_not_an_array_are_an_error_and_no_complete_scan(
    results: Any,
) -> None:
    document = load_fixture("sources/sarif_results_not_an_array.sarif.json")
    document["runs"][0]["results"] = results
    records, complete, errors = scanner_reports.parse_report(document, "x", "repo", "sarif")
    assert records == []
    assert complete == set()
    assert errors == [
        ("x#runs[0].results", "results is neither an array nor null (SARIF 2.1.0 §3.14.23)")
    ]


def test_sarif_results_not_an_array_fixture_is_an_error() -> None:
    _, errors = convert(load_fixture("sources/sarif_results_not_an_array.sarif.json"))
    assert [position for position, _ in errors] == ["sample#runs[0].results"]


def test_sarif_null_results_are_no_error_but_no_complete_scan() -> None:
    # SARIF 2.1.0 §3.14.23: null results mean the tool failed to start or to analyse.
    document = load_fixture("sources/sarif_results_not_an_array.sarif.json")
    document["runs"][0]["results"] = None
    assert scanner_reports.parse_report(document, "x", "repo", "sarif") == ([], set(), [])


def test_sarif_an_unreadable_run_makes_its_scope_incomplete_in_every_run() -> None:
    # Given two runs of the same tool, repository and category, one of them broken
    document = load_fixture("sources/sarif_multi_run.sarif.json")
    broken = copy.deepcopy(document["runs"][1])
    broken["results"] = 42
    document["runs"].append(broken)
    records, complete, errors = scanner_reports.parse_report(document, "x", "repo", "sarif")
    assert len(records) == 7
    assert [position for position, _ in errors] == ["x#runs[2].results"]
    # Then only the CodeQL run is a complete scan: the Semgrep scope is not
    assert complete == {"sarif:repo:CodeQL:https://github.com/example/shop:codeql/javascript/"}


@pytest.mark.parametrize(
    ("tool", "reason"),
    [
        (42, "run has no 'tool' object (SARIF 2.1.0 §3.14.6)"),
        ({"name": "x"}, "tool has no 'driver' object (SARIF 2.1.0 §3.18.2)"),
    ],
)
def test_sarif_run_without_a_tool_driver_is_an_error(tool: Any, reason: str) -> None:
    document = load_fixture("sources/sarif_multi_run.sarif.json")
    document["runs"][1]["tool"] = tool
    records, complete, errors = scanner_reports.parse_report(document, "x", "repo", "sarif")
    assert len(records) == 4
    assert errors == [("x#runs[1].tool", reason)]
    # A log with an unreadable run archives nothing: which scope it covered is unknown.
    assert complete == set()


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


def ids_of(findings: list[dict[str, Any]]) -> list[str]:
    ids = [f["Id"] for f in findings]
    assert len(set(ids)) == len(ids), "two findings share an Id: one would be lost"
    return ids


@pytest.mark.parametrize(
    ("name", "cluster", "resources"),
    [
        (
            "trivy_k8s_all.json",  # --report all: Resources
            "kind-dev",
            {
                "kind-dev/shop/Deployment/api",
                "kind-dev/shop/Deployment/web",
                "kind-dev/kube-system/Pod/etcd-kind-dev-control-plane",
                "kind-dev/shop/ConfigMap/settings",
            },
        ),
        (
            "trivy_k8s_summary.json",  # --report summary: Findings, not ASFF's
            "arn:aws:eks:eu-west-1:123456789012:cluster/prod",
            {"arn:aws:eks:eu-west-1:123456789012:cluster/prod/default/Deployment/nginx"},
        ),
        (
            "trivy_k8s_by_scanner.json",  # Vulnerabilities and Misconfigurations of resources
            "minikube",
            {"minikube/default/Deployment/app"},
        ),
    ],
)
def test_trivy_k8s_reports_of_every_form_map_each_resources_findings_to_it(
    name: str, cluster: str, resources: set[str]
) -> None:
    document = load_fixture(f"sources/{name}")
    assert scanner_reports.detect_format(document) == "trivy"
    findings, errors = convert(document)
    results = [
        result
        for resources_list in ("Resources", "Findings", "Vulnerabilities", "Misconfigurations")
        for resource in document.get(resources_list, [])
        for result in resource.get("Results", [])
    ]
    wanted = sum(
        len(result.get(found) or [])
        for result in results
        for found in ("Vulnerabilities", "Misconfigurations", "Secrets")
    )
    assert [e for e in errors if "could not scan" not in e[1]] == []
    assert len(ids_of(findings)) == wanted
    assert {f["Resources"][0]["Id"] for f in findings} == resources
    assert {f["ProductFields"]["trivy/artifact"] for f in findings} == resources
    _, complete, _ = scanner_reports.read_report(document, "k", "")
    assert list(complete) in ([], [f"trivy::{cluster}"])


def test_trivy_k8s_one_image_in_two_deployments_is_two_findings_each_on_its_deployment() -> None:
    findings, _ = convert(load_fixture("sources/trivy_k8s_all.json"))
    glibc = by_generator(findings)["trivy/CVE-2024-2961"]
    assert len({f["Id"] for f in glibc}) == 2
    assert sorted(f["Resources"][0]["Id"] for f in glibc) == [
        "kind-dev/shop/Deployment/api",
        "kind-dev/shop/Deployment/web",
    ]
    # The same check failing in two namespaces is two findings too.
    assert len({f["Id"] for f in by_generator(findings)["trivy/AVD-KSV-0012"]}) == 2


def test_trivy_k8s_resource_trivy_could_not_scan_is_an_error_and_no_scan_is_complete() -> None:
    document = load_fixture("sources/trivy_k8s_all.json")
    records, complete, errors = scanner_reports.read_report(document, "k", "")
    assert errors == [
        (
            "k#Resources[5]",
            "Trivy could not scan it: scan error: unable to initialize a scanner: unable to"
            ' find the specified image "registry.internal/report:1.0"',
        )
    ]
    # What the CronJob's image holds is not known: nothing of the cluster is archived.
    assert complete == {}
    assert len(records) == 5
    del document["Resources"][5]
    _, complete, errors = scanner_reports.read_report(document, "k", "")
    assert (errors, complete) == ([], {"trivy::kind-dev": frozenset(CLASSES) - {"license"}})


def test_trivy_report_before_0_20_a_bare_array_of_results_is_read() -> None:
    document = load_fixture("sources/trivy_before_0_20.json")
    assert scanner_reports.detect_format(document) == "trivy"
    records, complete, errors = scanner_reports.read_report(document, "old.json", "scans")
    # The image's name from its OS result's Target: two images in one folder, two scopes.
    assert complete == {"trivy:scans:alpine:3.10": frozenset({"vulnerability"})}
    assert [r.position for r in records] == [
        "old.json#[0].Vulnerabilities[0]",
        "old.json#[2].Vulnerabilities[0]",
    ]
    findings, problems = convert(document)
    assert problems == errors == []
    assert [f["GeneratorId"] for f in findings] == ["trivy/CVE-2019-1549", "trivy/CVE-2019-10744"]
    assert findings[1]["Severity"]["Label"] == "HIGH"


def test_an_empty_array_is_still_an_asff_file_and_an_asff_list_is_no_old_trivy_report() -> None:
    assert scanner_reports.detect_format([]) == "asff"
    with pytest.raises(MappingError, match="not a Trivy JSON report"):
        scanner_reports.read_report(
            load_fixture("sources/prowler_asff_list.json"), "x", "", "trivy"
        )


@pytest.mark.parametrize("fmt", [None, "trivy", "grype"])
def test_an_sbom_is_refused_saying_what_to_scan_with_instead(fmt: str | None) -> None:
    document = load_fixture("sources/trivy_cyclonedx.json")
    with pytest.raises(MappingError, match=r"this is a CycloneDX SBOM.*--format json or sarif"):
        scanner_reports.read_report(document, "x", "", fmt)
    spdx = {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "packages": []}
    with pytest.raises(MappingError, match="this is a SPDX SBOM"):
        scanner_reports.read_report(spdx, "x", "", fmt)


@pytest.mark.parametrize("fmt", [None, "trivy"])
def test_a_trivy_compliance_report_is_refused_saying_how_to_scan_for_findings(
    fmt: str | None,
) -> None:
    document = load_fixture("sources/trivy_compliance_docker_cis.json")
    with pytest.raises(
        MappingError, match=r"this is a Trivy compliance report.*without --compliance"
    ):
        scanner_reports.read_report(document, "x", "", fmt)
    summary = {"ID": "k8s-cis", "Title": "CIS Kubernetes Benchmarks v1.23", "SummaryControls": []}
    with pytest.raises(MappingError, match="this is a Trivy compliance report"):
        scanner_reports.read_report(summary, "x", "", fmt)
    data = json.dumps(document).encode()
    with pytest.raises(MappingError, match="this is a Trivy compliance report"):
        reports.read_stream(lambda: io.BytesIO(data), "x", "", fmt)


def test_a_grype_report_read_as_trivy_is_refused_not_a_clean_scan() -> None:
    # It was read as a Trivy report without Results: a clean scan that archived everything.
    with pytest.raises(MappingError, match="not a Trivy JSON report"):
        scanner_reports.read_report(load_fixture("sources/grype_image.json"), "x", "", "trivy")


def test_trivy_excepted_misconfiguration_is_resolved_and_a_failure_is_not() -> None:
    findings, errors = convert(load_fixture("sources/trivy_config.json"))
    assert errors == []
    states = {g: [f["RecordState"] for f in fs] for g, fs in by_generator(findings).items()}
    assert states["trivy/AVD-DS-0026"] == ["ARCHIVED"]  # Status EXCEPTION
    assert states["trivy/AVD-DS-0002"] == ["ACTIVE"]  # FAIL
    assert states["trivy/AVD-KSV-0001"] == ["ACTIVE", "ACTIVE"]  # two containers, two lines
    bucket = by_generator(findings)["trivy/AVD-AWS-0089"][0]
    assert bucket["Resources"][0]["Id"] == "aws_s3_bucket.logs"
    assert bucket["Resources"][0]["Details"]["Other"]["location"] == "main.tf:1"


def test_trivy_cvss_v4_scores_are_kept_after_v3_and_rate_a_source_without_v3() -> None:
    findings, _ = convert(load_fixture("sources/trivy_image_debian.json"))
    openssl = by_generator(findings)["trivy/CVE-2024-2511"][0]
    assert [
        (c["Source"], c["Version"], c["BaseScore"]) for c in openssl["Vulnerabilities"][0]["Cvss"]
    ] == [
        ("nvd", "3.1", 5.3),  # the severity source, its v3 first
        ("nvd", "4.0", 6.9),
        ("ghsa", "4.0", 8.7),
    ]
    assert openssl["Severity"] == {"Label": "MEDIUM", "Original": "5.3"}
    document = load_fixture("sources/trivy_image_debian.json")
    vuln = document["Results"][0]["Vulnerabilities"][5]
    vuln["SeveritySource"] = "ghsa"
    findings, _ = convert(document)
    assert by_generator(findings)["trivy/CVE-2024-2511"][0]["Severity"]["Original"] == "8.7"


def test_trivy_licenses_are_findings_rated_as_trivy_rates_them() -> None:
    document = load_fixture("sources/trivy_repo_secrets_licenses.json")
    findings, errors = convert(document)
    assert errors == []
    licenses = [f for f in findings if f["Id"].startswith("hubrelay/trivy/license/")]
    assert [(f["Title"], f["Severity"]["Label"]) for f in licenses] == [
        ("GPL-3.0-only license (restricted) in libreadline8", "HIGH"),
        ("AGPL-3.0 license (forbidden) in left-pad", "CRITICAL"),
        ("GPL-2.0-only license (restricted) in vendor/lib/LICENSE", "HIGH"),
    ]
    assert licenses[0]["Resources"][0]["Details"]["Other"]["package"] == "libreadline8"
    assert licenses[2]["Resources"][0]["Details"]["Other"]["path"] == "vendor/lib/LICENSE"
    _, complete, _ = scanner_reports.read_report(document, "r", "")
    # A license scan archives licenses (and a vulnerability scan never does).
    assert complete == {"trivy::https://github.com/acme/payments": frozenset({"secret", "license"})}
    _, complete, _ = scanner_reports.read_report(
        load_fixture("sources/trivy_image_debian.json"), "r", ""
    )
    assert set(complete.values()) == {frozenset({"vulnerability"})}


def test_trivy_packages_of_list_all_pkgs_are_no_records_and_a_stream_never_holds_them() -> None:
    data = (FIXTURES / "sources" / "trivy_image_debian.json").read_bytes()
    skeleton = streamjson.skeleton(io.BytesIO(data), "r")
    packages = skeleton["Results"][0]["Packages"]
    assert (packages, packages.length) == ([], 2)
    records, _, _ = reports.read_stream(lambda: io.BytesIO(data), "r", "")
    assert not [r for r in records if "Packages" in r.position]


def test_trivy_repository_url_credentials_reach_no_finding_and_no_scope() -> None:
    document = load_fixture("sources/trivy_repo_secrets_licenses.json")
    token = "glpat-Xk3vQz9T8sLmN2pR7wYb"  # made up
    document["ArtifactName"] = f"https://oauth2:{token}@gitlab.example.com/acme/payments.git"
    _, complete, _ = scanner_reports.read_report(document, "r", "ci")
    findings, _ = convert(document)
    assert findings
    assert token not in json.dumps(findings)
    assert list(complete) == ["trivy:ci:https://gitlab.example.com/acme/payments.git"]
    assert {f["Resources"][0]["Id"] for f in findings} == {
        "https://gitlab.example.com/acme/payments.git"
    }
    # The next CI job's token is another: the findings keep their Ids.
    document["ArtifactName"] = "https://oauth2:other@gitlab.example.com/acme/payments.git"
    assert ids_of(convert(document)[0]) == ids_of(findings)


def test_trivy_one_cve_in_two_packages_and_one_package_in_two_targets_are_each_a_finding() -> None:
    findings, errors = convert(load_fixture("sources/trivy_image_debian.json"))
    assert errors == []
    found = by_generator(findings)

    def packages(vid: str) -> list[tuple[str, str]]:
        other = [f["Resources"][0]["Details"]["Other"] for f in found[f"trivy/{vid}"]]
        return sorted((o.get("target"), o["package"]) for o in other)

    assert len(packages("CVE-2024-0727")) == 2  # libssl3 and openssl, one target
    assert packages("GHSA-9wx4-h78v-vm56") == [
        ("app/requirements.txt", "requests"),
        ("worker/requirements.txt", "requests"),
    ]
    paths = sorted(
        f["Vulnerabilities"][0]["VulnerablePackages"][0]["FilePath"]
        for f in found["trivy/CVE-2021-44228"]
    )
    assert paths == [
        "app/lib/log4j-core-2.14.1.jar",
        "app/plugins/report.jar/BOOT-INF/lib/log4j-core-2.14.1.jar",
    ]
    zlib = found["trivy/CVE-2023-45853"][0]  # will_not_fix, no FixedVersion
    assert zlib["Vulnerabilities"][0]["FixAvailable"] == "NO"
    assert "Remediation" not in zlib or "Upgrade" not in json.dumps(zlib["Remediation"])
    assert zlib["Resources"][0]["Type"] == "Container"
    assert zlib["Resources"][0]["Details"]["Container"] == {
        "ImageName": "ghcr.io/acme/billing:3.2.0",
        "ImageId": "sha256:5d6f2a3c8e1b9f7a6c4d2e0b8a7f6e5d4c3b2a190817263544536271809fa1b2",
    }
    assert found["trivy/CVE-2024-28182"][0]["Severity"] == {
        "Label": "INFORMATIONAL",
        "Original": "UNKNOWN",
    }


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


def test_grype_report_with_null_matches_is_a_clean_scan() -> None:
    document = load_fixture("sources/grype_matches_null.json")
    assert scanner_reports.detect_format(document) == "grype"
    records, complete, errors = scanner_reports.read_report(document, "g", "")
    assert (records, errors) == ([], [])
    assert complete == {"grype::.": frozenset({"vulnerability"})}


def test_grype_epss_and_known_exploited_reach_the_asff_vulnerability() -> None:
    findings, errors = convert(load_fixture("sources/grype_directory.json"))
    assert errors == []
    requests = by_generator(findings)["grype/GHSA-9wx4-h78v-vm56"]
    vulnerability = requests[0]["Vulnerabilities"][0]
    assert vulnerability["EpssScore"] == 0.00052
    assert vulnerability["RelatedVulnerabilities"] == ["CVE-2024-35195"]
    assert "ExploitAvailable" not in vulnerability  # in no KEV entry: not known, not "NO"
    assert requests[0]["Resources"][0] == {
        "Type": "Other",
        "Id": "/workspace/acme",
        "Details": {
            "Other": {
                "package": "requests",
                "installedVersion": "2.31.0",
                "fixedVersion": "2.32.0",
                "path": "/services/api/requirements.txt",
            }
        },
    }
    log4j = by_generator(findings)["grype/CVE-2021-44228"][0]
    assert log4j["Vulnerabilities"][0]["ExploitAvailable"] == "YES"
    assert log4j["Severity"] == {"Label": "CRITICAL", "Original": "10"}  # v3.1 over v2
    assert "FixAvailable" not in log4j["Vulnerabilities"][0]  # fix state unknown
    assert log4j["ProductFields"]["grype/risk"] == "98.1"


def test_grype_related_record_of_the_same_cve_scores_it_but_is_not_related() -> None:
    findings, _ = convert(load_fixture("sources/grype_sbom_file.json"))
    (openssl,) = findings
    assert "RelatedVulnerabilities" not in openssl["Vulnerabilities"][0]
    assert "grype/related" not in openssl["ProductFields"]
    assert openssl["Severity"] == {"Label": "MEDIUM", "Original": "5.3"}  # NVD's, related
    assert openssl["Resources"][0]["Id"] == "sbom/billing.cdx.json"


# --- Ids that would collide ------------------------------------------------------------


REAL_REPORTS = sorted(
    p.name
    for p in (FIXTURES / "sources").glob("*.json")
    if p.name.startswith(("trivy_", "grype_")) and "asff" not in p.name
)


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in REAL_REPORTS
        if n not in ("trivy_cyclonedx.json", "trivy_compliance_docker_cis.json")
    ],
)
def test_every_finding_of_a_scanner_report_has_an_id_of_its_own_and_the_same_each_read(
    name: str,
) -> None:
    document = load_fixture(f"sources/{name}")
    first, _ = convert(copy.deepcopy(document))
    again, _ = convert(document)
    assert ids_of(first) == ids_of(again)


def _without(document: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    trimmed = copy.deepcopy(document)
    *parent, last = path
    node: Any = trimmed
    for step in parent:
        node = node[step]
    del node[last]
    return trimmed


@pytest.mark.parametrize(
    ("name", "generator", "second"),
    [
        # Two AWS keys on line 9 of one file (a minified file has all its keys on one line).
        (
            "trivy_repo_secrets_licenses.json",
            "trivy/aws-secret-access-key",
            ("Results", 0, "Secrets", 3),
        ),
        # One check passing twice in one file, neither with a resource or line.
        ("trivy_config.json", "trivy/AVD-AWS-0088", ("Results", 2, "Misconfigurations", 2)),
        # One package at one path in two image layers (grype --scope all-layers).
        ("grype_directory.json", "grype/CVE-2020-0001", ("matches", 4)),
    ],
)
def test_records_that_share_an_identity_are_each_a_finding_and_the_first_keeps_its_id(
    name: str, generator: str, second: tuple[Any, ...]
) -> None:
    document = load_fixture(f"sources/{name}")
    findings, _ = convert(document)
    both = [f["Id"] for f in by_generator(findings)[generator]]
    assert len(both) == len(set(both)) == 2
    # Alone in its report, the first has the Id it had before repeats were counted.
    alone, _ = convert(_without(document, second))
    assert [f["Id"] for f in by_generator(alone)[generator]] == both[:1]


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
    broken["Id"] += "/broken"  # another finding: one Id twice is one finding (below)
    broken["Title"] = "x" * 300
    findings, errors = convert([finding, broken], "asff")
    assert len(findings) == 1
    assert "Title: wrong length" in errors[0][1]


def test_asff_from_trivy_without_a_region_is_repaired_before_validation() -> None:
    # Given Trivy's contrib/asff.tpl rendered with AWS_REGION and AWS_ACCOUNT_ID unset
    findings, errors = convert(load_fixture("sources/trivy_asff_no_region.json"))
    assert len(findings) == 2
    assert [reason for _, reason in errors if not reason.startswith("warning:")] == []
    for finding in findings:
        assert asff.validate_finding(finding) == []
        assert finding["ProductArn"] == CTX.product_arn_in("us-east-1")
        assert finding["AwsAccountId"] == "123456789012"
        resource = finding["Resources"][0]
        assert resource["Region"] == "us-east-1"
        assert resource["Partition"] == "aws"
        assert "NvdCvssVectorV2" not in resource["Details"]["Other"]  # blank: dropped
        assert resource["Details"]["Other"]["NvdCvssScoreV2"] == "0"  # not blank: kept
    busybox = by_generator(findings)["Trivy/CVE-2023-42366"][0]
    assert "Patched Package" not in busybox["Resources"][0]["Details"]["Other"]
    assert busybox["Resources"][0]["Details"]["Other"]["Installed Package"] == "1.36.1-r2"


def test_asff_region_of_a_partner_arn_without_account_is_kept() -> None:
    document = load_fixture("sources/trivy_asff_no_region.json")
    finding = document["Findings"][2]
    finding["ProductArn"] = "arn:aws:securityhub:eu-west-1::product/aquasecurity/aquasecurity"
    findings, errors = convert({"Findings": [finding]})
    assert errors == []
    assert findings[0]["ProductArn"] == CTX.product_arn_in("eu-west-1")
    assert findings[0]["Resources"][0]["Region"] == "eu-west-1"


def test_asff_blank_partition_is_the_partition_of_the_region() -> None:
    document = load_fixture("sources/trivy_asff_no_region.json")
    finding = document["Findings"][2]
    finding["Resources"][0]["Partition"] = " "
    findings, errors = convert({"Findings": [finding]})
    assert errors == []
    assert findings[0]["Resources"][0]["Partition"] == "aws"


def test_asff_blank_required_field_is_still_refused_by_name(finding: dict[str, Any]) -> None:
    finding["Title"] = ""
    finding["Resources"][0]["Id"] = " "
    finding["Remediation"]["Recommendation"]["Url"] = ""
    findings, errors = convert([finding], "asff")
    assert findings == []
    (error,) = errors
    assert "Title: blank string" in error[1]
    assert "Resources[0].Id: blank string" in error[1]
    assert "Remediation" not in error[1]  # optional and blank: dropped, not reported


def test_asff_duplicate_ids_keep_the_copy_updated_last() -> None:
    findings, errors = convert(load_fixture("sources/trivy_asff_no_region.json"))
    kept = by_generator(findings)["Trivy/CVE-2023-5363"]
    assert len(kept) == 1
    assert kept[0]["Title"].endswith("related to libssl3")  # UpdatedAt .101982070 > .101935502
    assert errors == [
        (
            "sample#[0]",
            "warning: duplicate Id 'registry.example.com/shop/api:1.4.2 (alpine 3.18.4)/"
            "CVE-2023-5363': kept the copy at sample#[1] (UpdatedAt"
            " 2026-10-30T10:00:00.101982070Z), dropped this one (UpdatedAt"
            " 2026-10-30T10:00:00.101935502Z)",
        )
    ]


@pytest.mark.parametrize(
    ("first_updated", "second_updated", "kept_title", "dropped"),
    [
        ("2026-10-30T10:00:00Z", "2026-10-31T10:00:00Z", "second", "sample#[0]"),
        ("2026-10-31T10:00:00Z", "2026-10-30T10:00:00Z", "first", "sample#[1]"),
        ("2026-10-30T10:00:00Z", "2026-10-30T10:00:00.000Z", "first", "sample#[1]"),
        ("2026-10-30T11:00:00+01:00", "2026-10-30T10:00:00Z", "first", "sample#[1]"),
        ("2026-10-30T10:00:00Z", "not a time", "first", "sample#[1]"),
        ("not a time", "2026-10-30T10:00:00Z", "second", "sample#[0]"),
    ],
)
def test_asff_duplicate_ids_newest_updated_at_wins_and_ties_keep_the_first(
    finding: dict[str, Any], first_updated: str, second_updated: str, kept_title: str, dropped: str
) -> None:
    first = {**copy.deepcopy(finding), "UpdatedAt": first_updated, "Title": "first"}
    second = {**copy.deepcopy(finding), "UpdatedAt": second_updated, "Title": "second"}
    records, _, errors = scanner_reports.parse_report([first, second], "sample", "", "asff")
    assert [r.native["Title"] for r in records] == [kept_title]
    assert [position for position, _ in errors] == [dropped]
    assert errors[0][1].startswith(f"warning: duplicate Id {finding['Id']!r}: kept the copy at ")


def test_fixture_files_are_json() -> None:
    for path in (FIXTURES / "sources").glob("*.json"):
        if path.name != "truncated.sarif.json":
            json.loads(path.read_text())


def test_a_secret_scanners_snippet_never_reaches_the_finding():
    # Given gitleaks' SARIF whose snippet holds the exposed key itself (no --redact)
    document = load_fixture("sources/gitleaks7.sarif.json")
    leaked = "AKIAIOSFODNN7EXAMPLE"
    region = document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
    region["snippet"]["text"] = f"export AWS_ACCESS_KEY_ID={leaked}"
    findings, errors = convert(document)
    # Then the findings name the file and line, but not the secret
    assert findings
    assert errors == []
    assert leaked not in json.dumps(findings)
    assert findings[0]["Resources"][0]["Details"]["Other"]["startLine"] == "4"


def test_a_code_scanners_snippet_is_kept():
    document = load_fixture("sources/sarif_multi_run.sarif.json")
    findings, _ = convert(document)
    snippets = [
        f["Resources"][0].get("Details", {}).get("Other", {}).get("snippet") for f in findings
    ]
    assert [s for s in snippets if s], "the fixture's snippet should be carried"
