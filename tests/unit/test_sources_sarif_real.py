"""SARIF as real tools write it (fixtures trimmed from each tool's documented output) and
the corners of SARIF 2.1.0 (https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html):
every result converts, Ids are unique and stable, severity, location and secrets right."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hubrelay.sources import Context, MappingError, files, reports
from tests.support import FIXTURES, load_fixture

CTX = Context("123456789012", ("us-east-1", "eu-west-1"), "", datetime(2026, 11, 1, tzinfo=UTC))
REAL = [
    ("semgrep_oss_requires_login.sarif.json", 2),
    ("gitleaks8_git.sarif.json", 2),
    ("gitleaks8_dir.sarif.json", 2),
    ("trivy_image.sarif.json", 3),
    ("grype_image.sarif.json", 1),
    ("bandit.sarif.json", 2),
    ("sarif_spec_corners.sarif.json", 13),
    ("trivy_sarif_template_two_targets.sarif.json", 3),
    ("eslint_formatter.sarif.json", 4),
    ("hadolint.sarif.json", 3),
    ("kics_terraform.sarif.json", 2),
    ("osv_scanner.sarif.json", 2),
    ("snyk_code.sarif.json", 1),
    ("checkov_terraform.sarif.json", None),
    ("codeql_rules_in_extensions.sarif.json", None),
]


def convert(document: Any) -> list[dict[str, Any]]:
    records, errors = files.read_records(document, None, "sample")
    findings, problems = files.map_records(records, CTX)
    assert errors + problems == []
    return findings


def convert_all(document: Any) -> list[dict[str, Any]]:
    """The findings of a log whose records may be refused (convert asserts none is)."""
    records, _ = files.read_records(document, None, "sample")
    return files.map_records(records, CTX)[0]


def fixture(name: str) -> Any:
    return load_fixture(f"sources/{name}")


def by_line(findings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["ProductFields"]["sarif/location"]: f for f in findings}


@pytest.mark.parametrize(("name", "count"), REAL)
def test_every_result_of_a_real_log_is_one_finding_with_an_id_of_its_own(
    name: str, count: int | None
) -> None:
    document = fixture(name)
    findings = convert(document)
    results = sum(len(run.get("results") or []) for run in document["runs"])
    assert len(findings) == results == (count if count is not None else results)
    assert len({f["Id"] for f in findings}) == len(findings)
    # the same log again gives the same Ids
    assert [f["Id"] for f in convert(copy.deepcopy(document))] == [f["Id"] for f in findings]


@pytest.mark.parametrize("name", [n for n, _ in REAL])
def test_a_real_log_read_as_a_stream_gives_the_same_ids(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + (FIXTURES / "sources" / name).read_bytes())  # a BOM too
    records, _ = files.read_file(str(path), None)
    whole = convert(fixture(name))
    streamed, _, _ = reports.read_stream(lambda: open(path, "rb"), "sample", "")  # noqa: SIM115
    ids = [f["Id"] for f in files.map_records(streamed, CTX)[0]]
    assert ids == [f["Id"] for f in files.map_records(records, CTX)[0]] == [f["Id"] for f in whole]


def test_semgrep_oss_requires_login_placeholder_is_no_fingerprint() -> None:
    # Semgrep OSS, not logged in, gives every result matchBasedId/v1 "requires login":
    # two SQL queries of one rule in one file were one Id (the collector kept one).
    findings = convert(fixture("semgrep_oss_requires_login.sarif.json"))
    assert sorted(f["ProductFields"]["sarif/location"] for f in findings) == [
        "app/db.py:14",
        "app/db.py:31",
    ]
    assert len({f["Id"] for f in findings}) == 2


def test_semgrep_real_fingerprints_still_identify_a_moved_result() -> None:
    document = fixture("semgrep_oss_requires_login.sarif.json")
    results = document["runs"][0]["results"]
    for i, result in enumerate(results):
        result["fingerprints"] = {"matchBasedId/v1": f"b1c2d3e4{i}"}
    before = [f["Id"] for f in convert(document)]
    results[0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 20
    assert [f["Id"] for f in convert(document)] == before


def test_gitleaks8_two_secrets_of_one_commit_in_one_file_are_two_findings() -> None:
    # gitleaks 8's partialFingerprints are the commit's (sha, author, date, message)
    findings = convert(fixture("gitleaks8_git.sarif.json"))
    assert set(by_line(findings)) == {"deploy/env.sh:3", "deploy/env.sh:7"}
    assert len({f["Id"] for f in findings}) == 2


def test_gitleaks8_directory_scan_blank_fingerprints_fall_back_to_the_location() -> None:
    findings = convert(fixture("gitleaks8_dir.sarif.json"))
    assert set(by_line(findings)) == {"config/settings.py:12", "config/settings.py:19"}
    assert len({f["Id"] for f in findings}) == 2


@pytest.mark.parametrize(
    ("name", "secrets"),
    [
        ("gitleaks8_git.sarif.json", ["AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE"]),
        ("gitleaks8_dir.sarif.json", ["sk_live_51HcXf2EXAMPLEKEY", "9f8e7d6c5b4a39281706"]),
        ("bandit.sarif.json", ["hunter2"]),
        ("kics_terraform.sarif.json", ["Sup3rS3cret!"]),
    ],
)
def test_a_secret_never_reaches_the_finding(name: str, secrets: list[str]) -> None:
    document = fixture(name)
    assert all(s in json.dumps(document) for s in secrets)  # the tool wrote them
    text = json.dumps(convert(document))
    assert [s for s in secrets if s in text] == []


def test_bandit_password_message_is_redacted_but_other_messages_kept() -> None:
    findings = {f["GeneratorId"]: f for f in convert(fixture("bandit.sarif.json"))}
    assert findings["Bandit/B105"]["Description"] == "Possible hardcoded password: '<redacted>'"
    shell = findings["Bandit/B602"]
    assert shell["Resources"][0]["Details"]["Other"]["snippet"].startswith("subprocess.call")
    assert shell["Severity"]["Label"] == "HIGH"
    assert shell["Types"] == ["Software and Configuration Checks/Vulnerabilities/CWE"]


def test_a_password_in_the_message_is_not_an_input_of_the_finding_id() -> None:
    # Given Bandit's log, and the same log with another password quoted in the message
    document = fixture("bandit.sarif.json")
    other = json.loads(json.dumps(document).replace("hunter2", "correct horse"))
    assert other != document
    # When both are converted
    ids = {f["GeneratorId"]: f["Id"] for f in convert(document)}
    other_ids = {f["GeneratorId"]: f["Id"] for f in convert(other)}
    # Then the password finding's Id is the same: it is no hash of the password (a hash a
    # dictionary of weak passwords would find), and every other Id is unchanged too
    assert other_ids == ids
    assert len(set(ids.values())) == 2


@pytest.mark.parametrize("password", ["it's-a-secret", 'say "cheese" twice', "a'b\"c'd"])
def test_a_password_with_quotes_in_it_is_redacted_whole(password: str) -> None:
    # Bandit quotes the password as it is ('%s'), so a quote inside it must not end the
    # redaction: no part of it reaches the finding, nor its Id (the same as hunter2's)
    document = fixture("bandit.sarif.json")
    other = json.loads(json.dumps(document).replace("hunter2", password.replace('"', '\\"')))
    findings = {f["GeneratorId"]: f for f in convert(other)}
    assert findings["Bandit/B105"]["Description"] == "Possible hardcoded password: '<redacted>'"
    assert {f["Id"] for f in findings.values()} == {f["Id"] for f in convert(document)}


def test_trivy_sarif_two_packages_of_one_cve_are_two_findings_and_secret_is_masked() -> None:
    findings = convert(fixture("trivy_image.sarif.json"))
    cve = [f for f in findings if f["GeneratorId"] == "Trivy/CVE-2024-6119"]
    assert len({f["Id"] for f in cve}) == 2
    assert {f["Severity"]["Original"] for f in cve} == {"7.5"}
    secret = next(f for f in findings if f["GeneratorId"] == "Trivy/aws-access-key-id")
    assert secret["Severity"]["Label"] == "CRITICAL"
    assert secret["Resources"][0]["Id"] == "app/.env"
    assert "snippet" not in secret["Resources"][0]["Details"]["Other"]


def test_a_log_without_version_whose_schema_is_2_1_0_is_read() -> None:
    document = fixture("sarif_spec_corners.sarif.json")
    assert "version" not in document
    assert len(convert(document)) == 13


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({"version": "2.0.0"}, True),
        ({"$schema": "http://json.schemastore.org/sarif-1.0.0"}, True),
        (
            {
                "$schema": "https://schemastore.azurewebsites.net/schemas/json/sarif-2.1.0-rtm.5.json"
            },
            False,
        ),
        ({"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json"}, False),
    ],
)
def test_the_sarif_version_comes_from_version_else_the_schema(
    changes: dict[str, Any], refused: bool
) -> None:
    document = {**fixture("sarif_spec_corners.sarif.json"), **changes}
    if refused:
        with pytest.raises(MappingError, match=r"not a SARIF 2\.1\.0 log"):
            files.read_records(document, "sarif", "s")
    else:
        assert len(files.read_records(document, "sarif", "s")[0]) == 13


def corners() -> dict[str, dict[str, Any]]:
    findings = convert(fixture("sarif_spec_corners.sarif.json"))
    return {f["Description"].split("\n", 1)[0]: f for f in findings}


def test_results_located_only_logically_are_told_apart_and_located() -> None:
    findings = convert(fixture("sarif_spec_corners.sarif.json"))
    findings = [f for f in findings if f["GeneratorId"] == "SpecTool/R1"]
    assert sorted(f["Resources"][0]["Id"] for f in findings) == ["pkg.mod.f", "pkg.other.f"]
    assert len({f["Id"] for f in findings}) == 2
    details = findings[0]["Resources"][0]["Details"]["Other"]
    assert details["logicalLocation"] in ("pkg.mod.f", "pkg.other.f")
    # the message came from the rule's messageStrings, with its arguments
    assert findings[0]["Description"] == "Variable 'x' in f."


def test_a_cwe_relationship_makes_the_rule_a_cwe_finding() -> None:
    finding = corners()["Variable 'x' in f."]
    assert finding["Types"] == ["Software and Configuration Checks/Vulnerabilities/CWE"]


@pytest.mark.parametrize(
    ("message", "label", "state"),
    [
        ("info about it", "INFORMATIONAL", "ACTIVE"),  # kind informational: level none
        ("review this", "INFORMATIONAL", "ACTIVE"),  # kind review: level none
        ("level none", "INFORMATIONAL", "ACTIVE"),  # the rule's 8.8 is not this result's
        ("na", "INFORMATIONAL", "ARCHIVED"),
        ("sup accepted", "HIGH", "ARCHIVED"),  # a suppression without status is accepted
        ("sup review", "HIGH", "ACTIVE"),
        ("sup rejected", "HIGH", "ACTIVE"),
        ("gone", "HIGH", "ARCHIVED"),  # baselineState absent
        ("still", "HIGH", "ACTIVE"),  # baselineState unchanged
        ("no location", "HIGH", "ACTIVE"),
        ("# Heading", "MEDIUM", "ACTIVE"),  # the result's own numeric security-severity
    ],
)
def test_spec_corner_severity_and_state(message: str, label: str, state: str) -> None:
    finding = corners()[message]
    assert (finding["Severity"]["Label"], finding["RecordState"]) == (label, state)


def test_a_uri_base_id_keeps_the_relative_uri_and_a_region_without_line_the_file() -> None:
    found = corners()
    assert found["still"]["Resources"][0]["Id"] == "src/b.c"
    assert found["info about it"]["ProductFields"]["sarif/location"] == "a.c"
    assert found["no location"]["Resources"][0]["Id"] == "SpecTool"


def test_clean_scan_and_empty_runs_give_no_finding_and_no_error() -> None:
    clean = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "tfsec"}}, "results": []}]}
    assert convert(clean) == []
    assert convert({"version": "2.1.0", "runs": []}) == []


def test_a_rule_index_that_contradicts_the_rule_id_yields_to_the_id() -> None:
    # Older Trivy sarif.tpl: each target's vulnerability index as ruleIndex (log4j's 0 is
    # the image's first rule, openssl's CVE-2023-5363)
    findings = convert(fixture("trivy_sarif_template_two_targets.sarif.json"))
    log4j = next(f for f in findings if f["GeneratorId"] == "Trivy/CVE-2021-44228")
    assert log4j["Title"] == "Trivy: CVE-2021-44228 Package: org.apache.logging.log4j:log4j-core"
    assert "log4j-core: Remote code execution" in log4j["Description"]
    openssl = next(f for f in findings if f["GeneratorId"] == "Trivy/CVE-2023-5363")
    assert openssl["Title"] == "Trivy: CVE-2023-5363 Package: libssl3"
    assert len({f["Id"] for f in findings}) == 3


def test_a_hierarchical_rule_id_below_the_indexed_rule_keeps_it() -> None:
    document = fixture("trivy_sarif_template_two_targets.sarif.json")
    document["runs"][0]["results"][0]["ruleId"] = "CVE-2023-5363/libssl3"
    findings = convert(document)
    assert findings[0]["Title"] == "Trivy: CVE-2023-5363 Package: libssl3"


def test_kics_cwe_relationships_and_severity_by_level() -> None:
    findings = convert(fixture("kics_terraform.sarif.json"))
    assert {tuple(f["Types"]) for f in findings} == {
        ("Software and Configuration Checks/Vulnerabilities/CWE",)
    }
    assert [f["Severity"]["Label"] for f in findings] == ["HIGH", "HIGH"]  # rule level error


def test_hadolint_levels_and_eslint_rule_less_parse_error() -> None:
    hadolint = convert(fixture("hadolint.sarif.json"))
    assert [f["Severity"]["Label"] for f in hadolint] == ["MEDIUM", "LOW", "HIGH"]
    eslint = {f["GeneratorId"]: f for f in convert(fixture("eslint_formatter.sarif.json"))}
    assert eslint["ESLint"]["Title"] == "ESLint: Parsing error: Unexpected token )"
    assert eslint["ESLint/no-eval"]["Resources"][0]["Id"].endswith("/src/util.js")


def test_osv_scanner_two_versions_of_one_package_are_two_findings() -> None:
    findings = convert(fixture("osv_scanner.sarif.json"))
    assert len({f["Id"] for f in findings}) == 2
    assert {f["Severity"]["Original"] for f in findings} == {"7.2"}


def test_a_result_without_location_is_about_the_repository_not_a_path_named_for_the_tool() -> None:
    findings = convert_all(fixture("sarif_odd_corners.sarif.json"))
    unlocated = [
        f
        for f in findings
        if not f["ProductFields"].get("sarif/location") and f["GeneratorId"].startswith("CodeQL")
    ]
    assert len(unlocated) == 3
    assert {f["Resources"][0]["Id"] for f in unlocated} == {"https://github.com/example/files"}


def test_fingerprints_win_over_partial_fingerprints() -> None:
    document = fixture("snyk_code.sarif.json")
    result = document["runs"][0]["results"][0]
    before = convert(document)[0]["Id"]
    result["partialFingerprints"] = {"primaryLocationLineHash": "0a1b2c:1"}
    assert convert(document)[0]["Id"] == before
    result["fingerprints"]["0"] = "another"
    assert convert(document)[0]["Id"] != before


def test_one_fingerprint_in_two_runs_is_one_finding_of_one_tool_and_two_of_two() -> None:
    run = fixture("snyk_code.sarif.json")["runs"][0]
    same = {"version": "2.1.0", "runs": [run, copy.deepcopy(run)]}
    assert len({f["Id"] for f in convert(same)}) == 1
    other = copy.deepcopy(run)
    other["tool"]["driver"]["name"] = "SnykCode-2"
    assert len({f["Id"] for f in convert({"version": "2.1.0", "runs": [run, other]})}) == 2


def _uri_less(repository: str | None, logical: str | None = None) -> dict[str, Any]:
    """A log of two results of one rule and message with a region but no artifact URI."""

    def result(line: int) -> dict[str, Any]:
        location: dict[str, Any] = {"physicalLocation": {"region": {"startLine": line}}}
        if logical:
            location["logicalLocations"] = [{"fullyQualifiedName": logical}]
        return {"ruleId": "R1", "message": {"text": "same"}, "locations": [location]}

    run: dict[str, Any] = {
        "tool": {"driver": {"name": "LineTool"}},
        "results": [result(12), result(30)],
    }
    if repository:
        run["versionControlProvenance"] = [{"repositoryUri": repository}]
    return {"version": "2.1.0", "runs": [run]}


@pytest.mark.parametrize(
    ("repository", "logical", "resource"),
    [
        ("https://github.com/example/files", None, "https://github.com/example/files"),
        (None, None, "LineTool"),
        ("https://github.com/example/files", "pkg.mod.f", "pkg.mod.f"),
    ],
)
def test_a_region_without_artifact_uri_is_located_as_a_result_without_location(
    repository: str | None, logical: str | None, resource: str
) -> None:
    # Given two results of one rule and message with a line but no artifact URI
    document = _uri_less(repository, logical)
    # When converted
    findings = convert(document)
    # Then each is about what a result without location is about (never ":12"), keeps
    # its line in the resource's details, and the two keep Ids of their own
    assert [f["Resources"][0]["Id"] for f in findings] == [resource, resource]
    assert [f["ProductFields"].get("sarif/location") for f in findings] == [logical, logical]
    lines = [f["Resources"][0]["Details"]["Other"]["startLine"] for f in findings]
    assert lines == ["12", "30"]
    assert len({f["Id"] for f in findings}) == 2
    assert [f["Id"] for f in convert(copy.deepcopy(document))] == [f["Id"] for f in findings]


_COMMIT = {
    "commitSha": "6f1c2d3e",
    "email": "d@example.com",
    "author": "Dev",
    "date": "2026-10-28T09:14:03Z",
    "commitMessage": "add env",
}


def _alone(tool: str, rule: str = "R1", message: str = "found it", **result: Any) -> Any:
    """A log of one result of `tool` at src/a.py:3:5, with `result`'s own keys."""
    located = {
        "physicalLocation": {
            "artifactLocation": {"uri": "src/a.py"},
            "region": {"startLine": 3, "startColumn": 5},
        }
    }
    native = {"ruleId": rule, "message": {"text": message}, "locations": [located], **result}
    rules = [{"id": "R1"}, {"id": "B105", "name": "hardcoded_password_string"}]
    return {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": tool, "rules": rules}}, "results": [native]}],
    }


def _logical(located: dict[str, Any], **result: Any) -> Any:
    """A log of one result of rule R1 whose only location is `located`."""
    native = {
        "ruleId": "R1",
        "message": {"text": "in a function"},
        "locations": [located],
        **result,
    }
    run = {"tool": {"driver": {"name": "T", "rules": [{"id": "R1"}]}}, "results": [native]}
    return {
        "version": "2.1.0",
        "runs": [{**run, "logicalLocations": [{"fullyQualifiedName": "pkg.g"}]}],
    }


_F = "hubrelay/sarif/T/R1/"
# The Ids of these results before the Ids that collided changed (b7e4ab9, with its
# hubrelay.sources.files), and whether each result kept it: docs/findings.md, "SARIF Ids
# that collided changed", says exactly which changed.
ALONE_BEFORE = [
    (
        "gitleaks 8 git",
        _alone("gitleaks", partialFingerprints=_COMMIT),
        "hubrelay/sarif/gitleaks/R1/",
        False,
    ),
    ("commit keys, any tool", _alone("T", partialFingerprints={"commitSha": "abc"}), _F, False),
    ("commit keys and another", _alone("T", partialFingerprints={**_COMMIT, "h": "x:1"}), _F, True),
    (
        "gitleaks 8 dir",
        _alone("gitleaks", partialFingerprints=dict.fromkeys(_COMMIT, "")),
        "hubrelay/sarif/gitleaks/R1/",
        False,
    ),
    ("whitespace", _alone("T", fingerprints={"a": "  "}), _F, False),
    ("number", _alone("T", fingerprints={"a": 12345}), _F, False),
    ("null", _alone("T", fingerprints={"a": None}), _F, False),
    ("object", _alone("T", fingerprints={"a": {"b": "c"}}), _F, False),
    (
        "blank, partial real",
        _alone("T", fingerprints={"a": ""}, partialFingerprints={"h": "abc:1"}),
        _F,
        False,
    ),
    ("requires login", _alone("T", fingerprints={"matchBasedId/v1": "requires login"}), _F, False),
    (
        "requires login and real",
        _alone("T", fingerprints={"matchBasedId/v1": "requires login", "o": "z"}),
        _F,
        True,
    ),
    ("blank and real", _alone("T", fingerprints={"a": "", "b": "real"}), _F, True),
    ("not an object", _alone("T", fingerprints=["x"]), _F, True),
    (
        "line hash",
        _alone("T", partialFingerprints={"primaryLocationLineHash": "39fa2ee9:1"}),
        _F,
        True,
    ),
    ("no fingerprints", _alone("T"), _F, True),
    ("logical", _logical({"logicalLocations": [{"fullyQualifiedName": "pkg.f"}]}), _F, False),
    ("logical by index", _logical({"logicalLocations": [{"index": 0}]}), _F, False),
    (
        "logical and region",
        _logical(
            {"physicalLocation": {"region": {"startLine": 2}}, "logicalLocations": [{"name": "f"}]}
        ),
        _F,
        False,
    ),
    (
        "logical, fingerprints",
        _logical({"logicalLocations": [{"name": "f"}]}, partialFingerprints={"h": "a"}),
        _F,
        True,
    ),
    (
        "logical and uri",
        _logical(
            {
                "physicalLocation": {"artifactLocation": {"uri": "a.py"}},
                "logicalLocations": [{"name": "f"}],
            }
        ),
        _F,
        True,
    ),
    (
        "secret quoted",
        _alone("T", "B105", "Possible hardcoded password: 'hunter2'"),
        "hubrelay/sarif/T/B105/",
        False,
    ),
    (
        "secret quoted, fingerprints",
        _alone("T", "B105", "password: 'hunter2'", fingerprints={"h": "a"}),
        "hubrelay/sarif/T/B105/",
        True,
    ),
    (
        "secret unquoted",
        _alone("T", "B105", "Possible hardcoded password"),
        "hubrelay/sarif/T/B105/",
        True,
    ),
]
BEFORE = {
    "gitleaks 8 git": "3066ee417d5b44acdb4414b9c67fb3eb",
    "commit keys, any tool": "2ffa8f5e58871e3d5aee090906ad4dba",
    "commit keys and another": "3a5db263d96575f204219fae55abd0ce",
    "gitleaks 8 dir": "8061738711491cdec97f50547b4db87d",
    "whitespace": "0b1afc369efd0ef2ed009b887c823e3c",
    "number": "aeeb27e68bb68f4e6a4c901745365ffc",
    "null": "1c1934287551d95e879c7f0b8c0554b1",
    "object": "6646b9e6b1339a7d37f2965881e0b1bc",
    "blank, partial real": "10d9e6ac751eb227c2d3b5e8a79f6ac0",
    "requires login": "66f6535a40ac0981cda18d6918c71d1a",
    "requires login and real": "b926820f52cf4a1b5235555bee5abcc1",
    "blank and real": "87f103d2ca730ba258355915c9ffcb2f",
    "not an object": "4f611b4dba2892d0e3bc0180da86eb39",
    "line hash": "760bfa0c834fc971fa2f83a7a3d9fcf0",
    "no fingerprints": "fb82c0e2750f0cd8342e77f4151e80a4",
    "logical": "893c9c1a4fb2cbd042871cf838ca1626",
    "logical by index": "893c9c1a4fb2cbd042871cf838ca1626",
    "logical and region": "90ab188fab2c7ca5e1e01df3cf00a08c",
    "logical, fingerprints": "94dbdaa8ab71a6a415af72c5f5cdd41b",
    "logical and uri": "a3409dfcfc8aff7c87068497c556e265",
    "secret quoted": "a8b25d71d3afeeb055dd4de130c6deee",
    "secret quoted, fingerprints": "c937f8bb1d25656b55968962a9a377a7",
    "secret unquoted": "c782197f86efab4cb3738bf721588bff",
}


@pytest.mark.parametrize(("case", "document", "prefix", "kept"), ALONE_BEFORE)
def test_which_results_alone_in_their_log_kept_their_id(
    case: str, document: Any, prefix: str, kept: bool
) -> None:
    # Given one result alone in its log (nothing for it to collide with) and its Id before
    # When it is converted now
    now = convert(document)[0]["Id"]
    # Then it has the Id it had before exactly when the documentation says it kept it
    assert (now == prefix + BEFORE[case]) is kept


def test_trivy_and_grype_sarif_vulnerabilities_are_typed_as_their_json_reports_are() -> None:
    # Given Trivy's and Grype's SARIF of one image (the same CVE), and osv-scanner's
    trivy = {f["Id"]: f for f in convert(fixture("trivy_image.sarif.json"))}
    (grype,) = convert(fixture("grype_image.sarif.json"))
    osv = convert(fixture("osv_scanner.sarif.json"))
    cves = [f for f in trivy.values() if f["GeneratorId"] == "Trivy/CVE-2024-6119"]
    # Then a CVE is a CVE, with its Vulnerabilities entry (before: Code Analysis, none)
    assert {tuple(f["Types"]) for f in [*cves, grype]} == {
        ("Software and Configuration Checks/Vulnerabilities/CVE",)
    }
    assert sorted(f["Vulnerabilities"][0]["VulnerablePackages"][0]["Name"] for f in cves) == [
        "libcrypto3",
        "libssl3",
    ]
    (entry,) = cves[0]["Vulnerabilities"]
    assert entry["Id"] == "CVE-2024-6119"
    assert entry["VulnerablePackages"][0]["FixedInVersion"] == "3.3.2-r0"
    assert entry["ReferenceUrls"] == ["https://avd.aquasec.com/nvd/cve-2024-6119"]
    # Grype's rule id is the CVE and the package; its help link is Grype's home: no link
    assert grype["Vulnerabilities"] == [{"Id": "CVE-2024-6119"}]
    assert {f["Vulnerabilities"][0]["Id"] for f in osv} == {"GHSA-35jh-r3h4-6jhm"}
    assert {tuple(f["Types"]) for f in osv} == {
        ("Software and Configuration Checks/Vulnerabilities",)
    }
    # And a secret is Sensitive Data, as Trivy's JSON and gitleaks' secrets are
    secret = next(f for f in trivy.values() if f["GeneratorId"] == "Trivy/aws-access-key-id")
    assert secret["Types"] == ["Sensitive Data Identifications/Security"]
    assert "Vulnerabilities" not in secret
    gitleaks = convert(fixture("gitleaks8_git.sarif.json"))
    assert {tuple(f["Types"]) for f in gitleaks} == {("Sensitive Data Identifications/Security",)}


def test_snyk_codes_cwe_property_types_its_result_and_a_level_in_capitals_is_read() -> None:
    # Given Snyk Code's rule with properties.cwe ["CWE-89"] and no CWE tag
    (snyk,) = convert(fixture("snyk_code.sarif.json"))
    assert snyk["Types"] == ["Software and Configuration Checks/Vulnerabilities/CWE"]
    # And a result whose level is written "Warning" (§3.27.10's values are lower case)
    document = fixture("hadolint.sarif.json")
    for result in document["runs"][0]["results"]:
        result["level"] = "Warning"
    # Then it is a warning, MEDIUM (before: not a level, INFORMATIONAL)
    assert {f["Severity"]["Label"] for f in convert(document)} == {"MEDIUM"}


def test_a_rule_title_that_only_restates_its_id_gives_way_to_the_message() -> None:
    # Given Semgrep's rules, whose shortDescription is "Semgrep Finding: <rule id>"
    findings = convert(fixture("semgrep_oss_requires_login.sarif.json"))
    # Then each finding is titled by its message (before: "Semgrep OSS: Semgrep Finding:
    # python.lang.security.audit.formatted-sql-query.formatted-sql-query")
    assert {f["Title"] for f in findings} == {
        "Semgrep OSS: Detected possible formatted SQL query. Use parameterized queries instead."
    }
    # And a rule's own title stays (CodeQL's shortDescription)
    (sql, *_) = [f for f in convert(fixture("sarif_multi_run.sarif.json")) if "sql" in f["Id"]]
    assert sql["Title"] == "CodeQL: Database query built from user-controlled sources"


@pytest.mark.parametrize(
    ("rule_id", "name"),
    [
        ("CKV_AWS_15", "Ensure IAM password policy requires at least one uppercase letter"),
        ("CKV_AWS_149", "Ensure that Secrets Manager secret is encrypted using KMS CMK"),
    ],
)
def test_a_check_of_a_password_policy_or_a_secrets_key_is_not_an_exposed_secret(
    rule_id: str, name: str
) -> None:
    # Given Checkov rules whose names speak of passwords and secrets (helper-75)
    document = copy.deepcopy(fixture("checkov_terraform.sarif.json"))
    run = document["runs"][0]
    rule = run["tool"]["driver"]["rules"][0]
    rule.update(id=rule_id, name=name, shortDescription={"text": name})
    run["results"] = [dict(run["results"][0], ruleId=rule_id, ruleIndex=0)]
    # Then they are configuration checks: Code Analysis, as before f3630ab typed secrets
    (finding,) = convert(document)
    assert finding["Types"] == ["Software and Configuration Checks/Code Analysis"]


@pytest.mark.parametrize(
    ("rule_id", "types", "entry"),
    [
        ("CKV_SECRET_6", ["Sensitive Data Identifications/Security"], None),
        ("PYSEC-2021-63", ["Software and Configuration Checks/Vulnerabilities"], "PYSEC-2021-63"),
        ("GO-2022-0646", ["Software and Configuration Checks/Vulnerabilities"], "GO-2022-0646"),
    ],
)
def test_a_rule_id_says_a_secret_or_an_osv_vulnerability(
    rule_id: str, types: list[str], entry: str | None
) -> None:
    # Given Checkov's secrets check, and osv-scanner's ids of OSV's own ecosystems, whose
    # help link is too long to keep whole
    document = copy.deepcopy(fixture("checkov_terraform.sarif.json"))
    run = document["runs"][0]
    rule = run["tool"]["driver"]["rules"][0]
    rule.update(id=rule_id, name="Base64 High Entropy String")
    rule["helpUri"] = f"https://osv.dev/vulnerability/{rule_id}?" + "x" * 1024
    run["results"] = [dict(run["results"][0], ruleId=rule_id, ruleIndex=0)]
    # Then the id types it, and a link that would be cut is left out (helper-75)
    (finding,) = convert(document)
    assert finding["Types"] == types
    vulnerabilities = finding.get("Vulnerabilities")
    assert vulnerabilities == (None if entry is None else [{"Id": entry}])
