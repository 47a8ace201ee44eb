"""Scanner reports read as a stream (hubrelay.sources.reports.read_stream) give what they give
read whole (read_report): the same records, scopes, errors and findings, for SARIF from
several tools, Trivy, Grype and ASFF, odd corners included."""

from __future__ import annotations

import io
import json
import tracemalloc
from datetime import UTC, datetime
from typing import Any

import pytest

from hubrelay import loading
from hubrelay.loading import LoadError
from hubrelay.sources import Context, MappingError, files, reports, streamjson
from hubrelay_emulator import samples
from tests.support import FIXTURES, load_fixture

CTX = Context("123456789012", ("us-east-1", "eu-west-1"), "", datetime(2026, 11, 1, tzinfo=UTC))
REPORTS = [
    "sarif_multi_run.sarif.json",  # CodeQL and Semgrep runs
    "codeql_rules_in_extensions.sarif.json",
    "gitleaks7.sarif.json",
    "checkov_terraform.sarif.json",
    "semgrep_results_before_rules.sarif.json",
    "sarif_odd_corners.sarif.json",
    "sarif_results_not_an_array.sarif.json",
    "trivy_image.json",
    "trivy_image_secrets.json",
    "trivy_fs_odd_corners.json",
    "trivy_result_not_an_object.json",
    "trivy_clean.json",
    "trivy_image_debian.json",
    "trivy_config.json",
    "trivy_repo_secrets_licenses.json",
    "trivy_k8s_all.json",  # its resources' results as a stream
    "trivy_k8s_summary.json",  # its resources read whole one by one
    "trivy_k8s_by_scanner.json",
    "trivy_before_0_20.json",  # a bare array of results, read whole one by one
    "grype_directory.json",
    "grype_sbom_file.json",
    "grype_matches_null.json",
    "grype_image.json",
    "grype_clean.json",
    "trivy_asff.json",
    "trivy_asff_no_region.json",
    "prowler_asff_list.json",
]


def _read(data: bytes, streamed: bool, fmt: str | None = None) -> dict[str, Any]:
    """What a report gives: its records (but their shared context), complete scopes and
    errors, and the findings and mapping errors of its records."""
    if streamed:
        records, complete, errors = reports.read_stream(
            lambda: io.BytesIO(data), "r.json", "scans/app", fmt
        )
    else:
        records, complete, errors = reports.read_report(
            json.loads(data), "r.json", "scans/app", fmt
        )
    listed = list(records)
    findings, problems = files.map_records(listed, CTX)
    return {
        "records": [(r.native, r.position, r.kind, r.scope, r.scan_class) for r in listed],
        "complete": complete,
        "errors": errors,
        "findings": findings,
        "problems": problems,
    }


@pytest.mark.parametrize("name", REPORTS)
def test_a_report_read_as_a_stream_gives_what_it_gives_read_whole(name: str) -> None:
    data = (FIXTURES / "sources" / name).read_bytes()
    whole, streamed = _read(data, False), _read(data, True)
    assert streamed == whole


@pytest.mark.parametrize("name", REPORTS)
def test_records_of_a_stream_can_be_read_again(name: str) -> None:
    """The collector reads a resumed report's records a second time (Unit.skip)."""
    data = (FIXTURES / "sources" / name).read_bytes()
    records, _, _ = reports.read_stream(lambda: io.BytesIO(data), "r.json", "f")
    assert [r.position for r in records] == [r.position for r in records]


def test_repeats_of_an_identity_are_counted_again_each_time_a_stream_is_read() -> None:
    data = (FIXTURES / "sources" / "grype_directory.json").read_bytes()
    records, _, _ = reports.read_stream(lambda: io.BytesIO(data), "r.json", "f")
    assert [r.repeat for r in records] == [r.repeat for r in records] == [0, 0, 0, 0, 1]


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (
            {"ClusterName": "c", "Resources": {"Kind": "Pod"}},
            ("r.json#Resources", "Resources is not an array"),
        ),
        (
            {"ClusterName": "c", "Resources": [{"Kind": "Pod", "Name": "p", "Results": {"a": 1}}]},
            ("r.json#Resources[0].Results", "Results is not an array"),
        ),
        (
            {"ClusterName": "c", "Resources": [{"Kind": "Pod", "Name": "p", "Results": [None]}]},
            ("r.json#Resources[0].Results[0]", "result is not a JSON object (NoneType)"),
        ),
        (
            {"ClusterName": "c", "Findings": ["s", {"Kind": "Pod", "Name": "p"}]},
            ("r.json#Findings[0]", "resource is not a JSON object (str)"),
        ),
    ],
)
def test_a_k8s_report_part_that_cannot_be_read_is_an_error_whole_or_streamed_and_archives_nothing(
    document: dict[str, Any], error: tuple[str, str]
) -> None:
    # Was read as a clean scan of the cluster (all its vulnerabilities archived), or a
    # KeyError ('Error') for a result that is no object.
    data = json.dumps(document).encode()
    whole, streamed = _read(data, False), _read(data, True)
    assert streamed == whole
    assert (whole["errors"], whole["complete"]) == ([error], {})


def test_semgrep_rules_after_the_results_are_found_for_each_result() -> None:
    # Given Semgrep's SARIF, whose keys are sorted: each run's results come before its tool
    data = (FIXTURES / "sources" / "semgrep_results_before_rules.sarif.json").read_bytes()
    assert data.index(b'"results"') < data.index(b'"rules"')
    read = _read(data, True)
    assert read["problems"] == []
    by_rule = {f["ProductFields"]["sarif/ruleId"]: f for f in read["findings"]}
    md5 = by_rule["python.lang.security.insecure-hash-algorithms.insecure-hash-algorithm-md5"]
    # ...the rule's description, help, help URI and security-severity reach its finding
    # (its shortDescription, "Semgrep Finding: <rule id>", only restates the id: the
    # finding is titled by its message)
    assert md5["Title"] == "Semgrep OSS: Detected MD5 hash algorithm which is considered insecure."
    assert md5["Remediation"]["Recommendation"]["Text"] == "Use SHA256 or SHA3 instead."
    assert md5["Severity"]["Label"] == "MEDIUM"  # 5.3
    assert md5["Types"] == ["Software and Configuration Checks/Vulnerabilities/CWE"]
    debug = by_rule["python.django.security.audit.debug-enabled.debug-enabled"]
    assert debug["RecordState"] == "ARCHIVED"  # suppressed in source
    assert read["complete"] == {
        "sarif:scans/app:Semgrep OSS::": frozenset({""}),
    }


def test_checkov_results_and_its_external_suppression() -> None:
    read = _read((FIXTURES / "sources" / "checkov_terraform.sarif.json").read_bytes(), True)
    states = {f["GeneratorId"]: f["RecordState"] for f in read["findings"]}
    assert states == {
        "Checkov/CKV_AWS_20": "ACTIVE",
        "Checkov/CKV_AWS_18": "ACTIVE",
        "Checkov/CKV2_AWS_62": "ARCHIVED",
    }
    acl = next(f for f in read["findings"] if f["GeneratorId"] == "Checkov/CKV_AWS_20")
    assert acl["Severity"]["Label"] == "HIGH"  # level error
    assert acl["Resources"][0]["Details"]["Other"]["uri"] == "infra/s3.tf"


def test_sarif_odd_corners_read_as_a_stream() -> None:
    read = _read((FIXTURES / "sources" / "sarif_odd_corners.sarif.json").read_bytes(), True)
    findings = {f["GeneratorId"]: f for f in read["findings"]}
    # Rules and artifacts after the results still resolve: an index, a message id with its
    # argument, an artifact index.
    path = next(f for f in read["findings"] if "req.body.path" in f["Description"])
    assert path["GeneratorId"] == "CodeQL/js/path-injection"
    assert path["Description"].startswith("This path depends on a req.body.path.")
    # A rule index that points at no rule falls back to the rule's id.
    dangling = next(f for f in read["findings"] if "user-provided" in f["Description"])
    assert dangling["Title"] == "CodeQL: Uncontrolled data used in path expression"
    assert path["Resources"][0]["Details"]["Other"]["uri"] == "src/lib/paths.js"
    # A result that names no rule is a finding of the tool itself; a driver with no name
    # is an unknown tool.
    assert findings["CodeQL"]["Title"].startswith("CodeQL: Analysis of src/vendor/big.min.js")
    assert findings["unknown-tool"]["Severity"]["Label"] == "LOW"
    # The two results that cannot be findings are named, one line each, and nothing else
    # of the run is lost.
    assert [(p, r.split(":")[0]) for p, r in read["problems"]] == [
        ("r.json#runs[0].results[4]", "MappingError"),
        ("r.json#runs[0].results[5]", "MappingError"),
    ]
    assert "result is not a JSON object" in read["problems"][0][1]
    assert "ruleIndex 9 is not in the run's 2 rules" in read["problems"][1][1]
    assert len(read["records"]) == 8  # 7 of CodeQL, none of tfsec and Bandit, 1 unnamed
    # An empty results array is a complete scan; null results and a failed run are not.
    assert set(read["complete"]) == {
        "sarif:scans/app:CodeQL:https://github.com/example/files:",
        "sarif:scans/app:tfsec::",
        "sarif:scans/app:unknown-tool::",
    }


def test_an_asff_list_keeps_the_newest_copy_of_an_id_read_as_a_stream() -> None:
    read = _read((FIXTURES / "sources" / "prowler_asff_list.json").read_bytes(), True)
    assert [position for _, position, *_ in read["records"]] == [
        "r.json#[1]",
        "r.json#[2]",  # the newer copy of [0]
        "r.json#[3]",  # no Id: refused by the mapper, with its reason
    ]
    assert read["errors"] == [
        (
            "r.json#[0]",
            "warning: duplicate Id 'prowler-iam_root_mfa_enabled-123456789012-us-east-1-0e1f3a4c':"
            " kept the copy at r.json#[2] (UpdatedAt 2026-10-31T08:00:00Z), dropped this one"
            " (UpdatedAt 2026-10-30T08:00:00Z)",
        )
    ]
    assert [p for p, _ in read["problems"]] == ["r.json#[3]"]
    assert {f["ProductArn"].split(":")[3] for f in read["findings"]} == {"us-east-1", "eu-west-1"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b'[{"SchemaVersion": "2018-10-08"}, 3]', "unrecognised report"),
        (b"[]", None),
        (b'{"Findings": {"Id": "x"}}', "unrecognised report"),
        (b'{"version": "2.1.0", "runs": {"tool": {}}}', "SARIF log has no 'runs' array"),
        (b'{"version": "2.0.0", "$schema": "sarif", "runs": []}', "not a SARIF 2.1.0 log"),
    ],
)
def test_documents_refused_whole_are_refused_as_a_stream_with_the_same_reason(
    text: bytes, reason: str | None
) -> None:
    outcomes = []
    for streamed in (False, True):
        try:
            outcomes.append(_read(text, streamed))
        except MappingError as exc:
            outcomes.append({"refused": str(exc)})
    assert outcomes[1] == outcomes[0]
    assert (reason or "-") in str(outcomes[0].get("refused", "-"))


def test_a_malformed_large_sarif_is_one_line_naming_the_report_and_the_reason() -> None:
    document = load_fixture("sources/sarif_multi_run.sarif.json")
    text = json.dumps(document).encode()
    broken = text.replace(b'"ruleId": "js/sql-injection"', b'"ruleId": "js/sql-injection",,', 1)
    with pytest.raises(LoadError) as refused:
        reports.read_stream(lambda: io.BytesIO(broken), "s3://reports/app.sarif", "f")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("s3://reports/app.sarif: not JSON: Expecting property name")


def test_the_first_pass_keeps_a_sarif_log_without_its_results() -> None:
    data = (FIXTURES / "sources" / "semgrep_results_before_rules.sarif.json").read_bytes()
    skeleton = streamjson.skeleton(io.BytesIO(data), "r.json")
    results = skeleton["runs"][0]["results"]
    assert isinstance(results, streamjson.Elided)
    assert (list(results), results.length) == ([], 3)
    assert len(skeleton["runs"][0]["tool"]["driver"]["rules"]) == 3


def _peak_of_reading(data: bytes, streamed: bool) -> tuple[int, int]:
    """(records, peak bytes allocated while reading and iterating them one at a time)."""
    tracemalloc.start()
    try:
        if streamed:
            records, _, _ = reports.read_stream(lambda: io.BytesIO(data), "r.json", "f")
        else:
            records, _, _ = reports.read_report(json.loads(data), "r.json", "f")
        count = sum(1 for _ in records)
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["sarif", "asff"])
def test_a_large_sarif_or_asff_file_read_as_a_stream_is_never_held(fmt: str) -> None:
    if fmt == "sarif":
        document: Any = samples.sarif_report(8_000, rules_after=True)
    else:
        document = {"Findings": samples.for_account(2_000, "111111111111")}
    data = json.dumps(document).encode()
    del document
    count, streamed = _peak_of_reading(data, True)
    whole_count, whole = _peak_of_reading(data, False)
    assert count == whole_count == (8_000 if fmt == "sarif" else 2_000)
    # Read whole, the document takes several times its text; as a stream, a window of it,
    # the run's rules and artifacts (SARIF) or a digest of each finding's Id (ASFF, about
    # 250 bytes a finding), and one record.
    assert whole > 2 * len(data)
    assert streamed < min(len(data) / 3, whole / 8), (streamed, whole, len(data))


def _sarif_with(result: str, results: int = 400) -> bytes:
    """A SARIF log over several read chunks whose last result's text is `result`."""
    document = samples.sarif_report(results)
    text = json.dumps(document)
    assert len(text) > 2 * streamjson.CHUNK
    return text.replace('"results": [', '"results": [' + result + ", ", 1).encode()


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        ('{"ruleId": "x", "properties": {"n": ' + "7" * 401 + "}}", "integer of 401 digits"),
        ('{"ruleId": "x", "rank": -Infinity}', "-Infinity is not a JSON number"),
        ('{"ruleId": "x", "properties": ' + "[" * 100_000 + "]" * 100_000 + "}", "deeply"),
        ('{"ruleId": "x", "properties": ' + "[" * 70 + "]" * 70 + "}", "deeply"),
        ('{"ruleId": "x",, "rank": 1}', "not JSON: Expecting property name"),
    ],
    ids=["integer", "infinity", "100000-deep", "70-deep", "syntax"],
)
def test_a_hostile_record_in_a_stream_is_one_line_naming_the_report_the_reason_and_where(
    result: str, reason: str
) -> None:
    data = _sarif_with(result)
    with pytest.raises(LoadError) as whole:
        reports.read_report(loading.load_json(data, what="r.json"), "r.json", "f")
    with pytest.raises(LoadError) as streamed:
        reports.read_stream(lambda: io.BytesIO(data), "r.json", "f")
    message = str(streamed.value)
    assert "\n" not in message
    assert message.startswith("r.json: ")
    assert reason in message
    if streamed.value.kind in ("integer", "number"):
        # The same reason and path as read whole: the path from the top of the log.
        assert message == str(whole.value)
        assert streamed.value.path.startswith("runs[0].results[0].")
    elif streamed.value.kind == "depth":
        assert streamed.value.path.startswith("runs[0].results[0]")
    else:  # where in the file, as json.loads counts it
        assert message.endswith(str(whole.value).rsplit("(", 1)[1].replace("char ", "(char "))


def test_the_same_fingerprint_in_two_files_is_two_findings_with_the_tool_after_the_results() -> (
    None
):
    # CodeQL's primaryLocationLineHash hashes a line's text, not its file, so the artifact
    # URI is part of the Id: read as a stream, with the rules (in tool.extensions) and the
    # artifacts after the results, it must still be found for each result.
    document = load_fixture("sources/codeql_rules_in_extensions.sarif.json")
    run = document["runs"][0]
    document["runs"][0] = {"results": run.pop("results"), **run}
    data = json.dumps(document).encode()
    assert data.index(b'"results"') < data.index(b'"extensions"')
    streamed = _read(data, True)
    assert streamed["findings"] == _read(data, False)["findings"]
    sql = [f for f in streamed["findings"] if f["GeneratorId"] == "CodeQL/js/sql-injection"]
    assert len({f["Id"] for f in sql}) == 2
    assert {f["Resources"][0]["Id"] for f in sql} == {
        "https://github.com/example/shop/src/routes/orders.js",
        "https://github.com/example/shop/src/routes/invoices.js",
    }


def test_a_malformed_first_record_is_refused_without_reading_the_rest_of_the_file() -> None:
    # Given a 10 MB ASFF file whose first record is broken
    good = json.dumps({"SchemaVersion": "2018-10-08", "Id": "x", "Title": "t" * 400})
    data = ('{"Findings": [{"Id": ,}, ' + ", ".join([good] * 25_000) + "]}").encode()
    assert len(data) > 10_000_000
    # When it is read as a stream
    tracemalloc.start()
    try:
        with pytest.raises(LoadError) as refused:
            reports.read_stream(lambda: io.BytesIO(data), "r.json", "f")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Then it is refused where json.loads refuses it, from a window of the file
    assert str(refused.value) == "r.json: not JSON: Expecting value (char 21)"
    assert peak < 2_000_000, peak


def test_a_number_cut_by_a_read_chunk_is_read_whole() -> None:
    # Given a value outside the records whose number "1.5" a read chunk ends inside
    head = '{"version": "2.1.0", "runs": [], "x": "'
    text = head + "a" * (streamjson.CHUNK - len(head) - 10) + '", "n": 1.'
    data = (text + '5, "m": 2e' + "3}").encode()
    assert data[: streamjson.CHUNK].endswith(b"1.")
    # When it is read as a stream, then it is the same document as read whole
    assert streamjson.skeleton(io.BytesIO(data), "r.json") == json.loads(data)


def test_a_record_too_deep_from_the_top_is_refused_as_read_whole() -> None:
    # Given a SARIF result whose own nesting is under the limit, but not from the top
    depth = loading.MAX_DEPTH - 3
    data = _sarif_with('{"ruleId": "x", "properties": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(LoadError) as whole:
        loading.load_json(data, what="r.json")
    # When it is read as a stream, then it is refused too, for its depth
    with pytest.raises(LoadError) as streamed:
        reports.read_stream(lambda: io.BytesIO(data), "r.json", "f")
    assert (whole.value.kind, streamed.value.kind) == ("depth", "depth")
    assert streamed.value.path.startswith("runs[0].results[0].properties")


def test_a_record_array_named_twice_is_refused_not_read_twice() -> None:
    # Given a SARIF log with two "runs" (json.loads keeps the last one)
    run = json.dumps(samples.sarif_report(2)["runs"][0])
    data = ('{"version": "2.1.0", "runs": [' + run + '], "runs": [' + run + "]}").encode()
    # When it is read as a stream, then it is refused by name, before any record is sent
    with pytest.raises(LoadError) as refused:
        reports.read_stream(lambda: io.BytesIO(data), "r.json", "f")
    assert str(refused.value) == "r.json: duplicate key 'runs' at (top)"


def test_a_file_changed_between_the_two_passes_is_one_line() -> None:
    # Given an ASFF file that holds other Ids when its records are read again
    first = json.dumps({"Findings": samples.for_account(3, "111111111111")}).encode()
    then = json.dumps({"Findings": samples.for_account(3, "222222222222")}).encode()
    opened = iter([first, then])
    records, _, _ = reports.read_stream(lambda: io.BytesIO(next(opened)), "r.json", "f")
    # When its records are read, then the change is named, not a KeyError
    with pytest.raises(LoadError) as refused:
        list(records)
    assert str(refused.value) == "r.json: the file changed while it was read at [0]"


@pytest.mark.parametrize("at", [10, streamjson.CHUNK - 1, 3 * streamjson.CHUNK + 5])
def test_broken_utf8_is_named_at_the_byte_of_the_file_as_read_whole(at: int) -> None:
    # Given a report with an invalid UTF-8 byte `at` bytes in (one cut by a read chunk too)
    text = '{"version": "2.1.0", "runs": [], "x": "' + "a" * (4 * streamjson.CHUNK) + '"}'
    data = bytearray(text.encode())
    data[at + 40 : at + 42] = "é".encode()[:1] + b"a"
    with pytest.raises(LoadError) as whole:
        loading.load_json(bytes(data), what="r.json")
    with pytest.raises(LoadError) as streamed:
        streamjson.skeleton(io.BytesIO(bytes(data)), "r.json")
    assert str(streamed.value) == str(whole.value)
    assert f"at byte {at + 40}" in str(whole.value)
