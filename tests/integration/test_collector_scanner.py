"""The collector handler over scanner reports in S3 (moto): new objects, invalid files,
unchanged re-scans, findings absent from a complete scan, partial scans, SQS packing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from hubrelay import asff
from hubrelay.bodies import BodyStore
from hubrelay.settings import DEFAULT_MAX_MESSAGE_BYTES
from tests.integration.collector_env import collector_stack, drain, run, shift_clock
from tests.support import FIXTURES, load_fixture


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with collector_stack(
        monkeypatch, SOURCE="scanner_reports", REPORTS_PREFIX="", REGIONS="us-east-1"
    ) as resources:
        yield resources


def put(key: str, document: Any) -> None:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    boto3.client("s3").put_object(Bucket="reports", Key=key, Body=body)


def active_ids(findings: list[dict[str, Any]]) -> set[str]:
    return {f["Id"] for f in findings if f["RecordState"] == "ACTIVE"}


def test_reports_become_findings_and_invalid_files_are_reported(stack: dict[str, str]) -> None:
    put("shop/api/trivy.json", load_fixture("sources/trivy_image.json"))
    put("shop/web/codeql.sarif", load_fixture("sources/sarif_multi_run.sarif.json"))
    put("shop/web/broken.sarif", (FIXTURES / "sources" / "truncated.sarif.json").read_bytes())
    put("shop/web/notes.json", load_fixture("sources/not_a_report.json"))
    summary = run()
    findings = drain(stack["queue_url"])
    assert all(asff.validate_finding(f) == [] for f in findings)
    # Trivy: 4 active findings (1 vulnerability resolved, 1 malformed, 1 misconfig passed);
    # SARIF: 4 active after merging the duplicate (2 resolved never sent are dropped).
    assert len(active_ids(findings)) == 8 == len(findings)
    assert summary["duplicates"] == 1
    assert summary["malformed"] == 3  # a record without an Id, and two unreadable files
    # One error report per report file with problems, written before the cursor passes it.
    errors = []
    for report in summary["errorReports"]:
        key = report.split("/", 3)[3]
        assert key.startswith("errors/scanner_reports/")
        body = boto3.client("s3").get_object(Bucket="reports", Key=key)["Body"].read()
        errors += json.loads(body)["errors"]
    positions = {e["position"] for e in errors}
    assert positions == {
        "s3://reports/shop/web/broken.sarif",
        "s3://reports/shop/web/notes.json",
        "s3://reports/shop/api/trivy.json#Results[0].Vulnerabilities[4]",
    }
    reasons = " ".join(e["reason"] for e in errors)
    assert "invalid report" in reasons
    assert "unrecognised report" in reasons
    # The error report itself is never read back as a report.
    assert run()["records"] == 0


def test_trivys_asff_output_is_relayed_as_trivys_product(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a stack configured with Trivy's product ARN (no account) and Trivy's ASFF output
    trivy = "arn:aws:securityhub:us-east-1::product/aquasecurity/aquasecurity"
    with collector_stack(
        monkeypatch,
        SOURCE="scanner_reports",
        REPORTS_PREFIX="",
        REGIONS="us-east-1",
        PRODUCT_ARN=trivy,
    ) as resources:
        report = load_fixture("sources/trivy_asff.json")
        put("shop/api/trivy.asff.json", report)
        # When the collector runs
        summary = run()
        findings = drain(resources["queue_url"])
    # Then every finding is queued under Trivy's product, none refused or reported
    assert summary["malformed"] == 0
    assert summary["errorReports"] == []
    assert [f["Id"] for f in findings] == [f["Id"] for f in report["Findings"]]
    assert {f["ProductArn"] for f in findings} == {trivy}
    assert all(asff.validate_finding(f, expected_region="us-east-1") == [] for f in findings)


def test_an_unchanged_rescan_enqueues_nothing(stack: dict[str, str]) -> None:
    put("shop/api/trivy-1.json", load_fixture("sources/trivy_image.json"))
    run()
    drain(stack["queue_url"])
    put("shop/api/trivy-2.json", load_fixture("sources/trivy_image.json"))
    summary = run()
    assert summary["records"] == 7
    assert summary["enqueued"] == 0
    assert drain(stack["queue_url"]) == []


def test_a_finding_absent_from_a_complete_rescan_is_archived(stack: dict[str, str]) -> None:
    report = load_fixture("sources/trivy_image.json")
    del report["Results"][0]["Vulnerabilities"][4]  # a clean report: every record maps
    put("shop/api/trivy-1.json", report)
    run()
    first = {f["Id"]: f for f in drain(stack["queue_url"])}
    fixed = copy.deepcopy(report)
    del fixed["Results"][0]["Vulnerabilities"][0]  # libcrypto3 was upgraded
    put("shop/api/trivy-2.json", fixed)
    summary = run()
    (archived,) = drain(stack["queue_url"])
    assert archived["RecordState"] == "ARCHIVED"
    assert archived["GeneratorId"] == "trivy/CVE-2023-5363"
    assert archived["CreatedAt"] == first[archived["Id"]]["CreatedAt"]
    assert summary["actions"]["archived"] == 1


def test_a_partial_scan_archives_nothing(stack: dict[str, str]) -> None:
    report = load_fixture("sources/trivy_image.json")
    put("shop/api/trivy-1.json", report)
    run()
    drain(stack["queue_url"])
    partial = copy.deepcopy(report)
    partial["Results"][0]["Vulnerabilities"] = [{"PkgName": "broken entry"}]
    put("shop/api/trivy-2.json", partial)
    summary = run()
    assert summary["malformed"] == 1
    assert drain(stack["queue_url"]) == []  # nothing archived although findings are absent


def test_another_artifact_in_the_same_folder_does_not_archive_the_first(
    stack: dict[str, str],
) -> None:
    report = load_fixture("sources/trivy_image.json")
    put("shop/trivy-api.json", report)
    run()
    drain(stack["queue_url"])
    other = copy.deepcopy(report)
    other["ArtifactName"] = "registry.example.com/shop/cart:3.0.0"
    other["Results"][0]["Vulnerabilities"] = other["Results"][0]["Vulnerabilities"][:1]
    put("shop/trivy-cart.json", other)
    run()
    assert {f["RecordState"] for f in drain(stack["queue_url"])} == {"ACTIVE"}


def test_many_findings_are_packed_into_full_messages_and_batches(stack: dict[str, str]) -> None:
    report = load_fixture("sources/trivy_image.json")
    template = report["Results"][0]["Vulnerabilities"][0]
    report["Results"] = [
        {
            "Target": "big",
            "Type": "alpine",
            "Vulnerabilities": [
                {**template, "VulnerabilityID": f"CVE-2026-{n:05d}", "Description": "d" * 900}
                for n in range(600)
            ],
        }
    ]
    put("big/trivy.json", report)
    summary = run()
    sqs = boto3.client("sqs")
    messages = []
    while batch := sqs.receive_message(QueueUrl=stack["queue_url"], MaxNumberOfMessages=10).get(
        "Messages"
    ):
        messages += [m["Body"] for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=stack["queue_url"], ReceiptHandle=m["ReceiptHandle"])
    sizes = [len(body.encode()) for body in messages]
    assert summary["enqueued"] == 600
    assert summary["messages"] == len(messages)
    assert max(sizes) <= DEFAULT_MAX_MESSAGE_BYTES
    # Full messages: only the last of each chunk of 500 findings (the unit of tracking
    # writes) may be less than 95% full.
    # Full messages: each holds one BatchImportFindings call, 100 findings (the chunks of
    # 500 findings, the unit of tracking writes, split into whole calls).
    assert [len(json.loads(body)["findings"]) for body in messages] == [100] * 6
    # One SendMessageBatch carries at most 1 MiB in all: three of these messages, then the
    # chunk's other two, then the second chunk's one.
    assert 3 * max(sizes) < DEFAULT_MAX_MESSAGE_BYTES < 4 * min(sizes)
    assert summary["calls"] == 3


def test_findings_not_reported_again_are_renewed_before_the_age_off(
    stack: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBRELAY_RENEWAL_MODE", "refresh")  # the default is new-generation
    put("shop/api/trivy.json", load_fixture("sources/trivy_image.json"))
    run()
    first = {f["Id"]: f for f in drain(stack["queue_url"])}
    # Given every tracked finding was last sent 81 days ago (renewal after 80 by default):
    # hubrelay's clock moved on, whatever the layout of the state it keeps.
    shift_clock(monkeypatch, 81 * 86_400)
    # When a run finds no new report, the sweep renews them (refresh: same Id, later UpdatedAt)
    summary = run()
    renewed = drain(stack["queue_url"])
    assert summary["actions"] == {"renewed": len(first)}
    assert {f["Id"] for f in renewed} == set(first)
    assert all(f["UpdatedAt"] > first[f["Id"]]["UpdatedAt"] for f in renewed)
    assert all(f["CreatedAt"] == first[f["Id"]]["CreatedAt"] for f in renewed)
    # And the next run has nothing left to renew.
    assert run()["enqueued"] == 0


def test_the_first_run_reads_back_no_body_of_what_it_sent(
    stack: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a new stack (no placement recorded yet) and a report of 4 active findings
    read: list[str] = []
    get = BodyStore.get
    monkeypatch.setattr(
        BodyStore, "get", lambda self, *args: read.append(args[2]) or get(self, *args)
    )
    put("shop/api/trivy.json", load_fixture("sources/trivy_image.json"))
    # When the first run sends them and then sweeps placement
    summary = run()
    # Then the sweep reads no body: what this run sent is placed by these very settings
    # (an S3 GET, and a body parsed, per finding otherwise: the sweep goes in key-hash
    # order, the bodies are in objects by save)
    assert summary["enqueued"] == 4
    assert read == []
    assert len(drain(stack["queue_url"])) == 4


def errors_reported(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Every entry of the error reports a run wrote."""
    entries: list[dict[str, Any]] = []
    for report in summary["errorReports"]:
        key = report.split("/", 3)[3]
        body = boto3.client("s3").get_object(Bucket="reports", Key=key)["Body"].read()
        entries += json.loads(body)["errors"]
    return entries


def test_structurally_invalid_sarif_is_reported_and_archives_nothing(
    stack: dict[str, str],
) -> None:
    broken = load_fixture("sources/sarif_results_not_an_array.sarif.json")
    scan = copy.deepcopy(broken)
    scan["runs"][0]["results"] = [
        {
            "ruleId": "python.lang.security.audit.eval-detected",
            "level": "error",
            "message": {"text": "Detected the use of eval()."},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": "app/views.py"},
                        "region": {"startLine": 88},
                    }
                }
            ],
        }
    ]
    put("shop/web/semgrep-1.sarif", scan)
    run()
    assert len(active_ids(drain(stack["queue_url"]))) == 1
    # When a later report of the same scan is structurally invalid ("results": 42)
    put("shop/web/semgrep-2.sarif", broken)
    summary = run()
    # Then it is in the error report, and the finding it does not list is not archived
    assert summary["malformed"] == 1
    assert [(e["position"], e["reason"]) for e in errors_reported(summary)] == [
        (
            "s3://reports/shop/web/semgrep-2.sarif#runs[0].results",
            "results is neither an array nor null (SARIF 2.1.0 §3.14.23)",
        )
    ]
    assert drain(stack["queue_url"]) == []


def test_asff_from_trivy_is_repaired_and_a_duplicate_id_reported(stack: dict[str, str]) -> None:
    put("shop/api/trivy.asff.json", load_fixture("sources/trivy_asff_no_region.json"))
    summary = run()
    findings = drain(stack["queue_url"])
    assert all(asff.validate_finding(f) == [] for f in findings)
    assert {f["Resources"][0]["Region"] for f in findings} == {"us-east-1"}
    by_id = {f["Id"]: f for f in findings}
    assert len(by_id) == 2 == len(findings)
    openssl = by_id["registry.example.com/shop/api:1.4.2 (alpine 3.18.4)/CVE-2023-5363"]
    assert openssl["Resources"][0]["Details"]["Other"]["PkgName"] == "libssl3"  # newest copy
    assert summary["duplicates"] == 0  # resolved while reading, not dropped by the collector
    assert summary["malformed"] == 1  # the copy left out is a record not sent
    (entry,) = errors_reported(summary)
    assert entry["position"] == "s3://reports/shop/api/trivy.asff.json#[0]"
    assert entry["reason"].startswith(
        "warning: duplicate Id 'registry.example.com/shop/api:1.4.2 (alpine 3.18.4)/"
        "CVE-2023-5363': kept the copy at s3://reports/shop/api/trivy.asff.json#[1] "
    )


def _asff_report(*ids: str) -> list[dict[str, Any]]:
    finding = load_fixture("findings/valid.json")
    return [dict(finding, Id=finding_id) for finding_id in ids]


def _errors_of(summary: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for report in summary["errorReports"]:
        body = boto3.client("s3").get_object(Bucket="reports", Key=report.split("/", 3)[3])
        errors |= {e["position"]: e["reason"] for e in json.loads(body["Body"].read())["errors"]}
    return errors


def test_reports_the_policy_refuses_are_reported_and_never_stall_the_source(
    stack: dict[str, str],
) -> None:
    # Given, between good reports, one with a 401-digit integer (it once crashed every run
    # before the cursor moved) and one nested 100,000 deep
    put("a/good.json", _asff_report("good/1", "good/2"))
    poison = json.dumps(_asff_report("poison/1", "poison/2"))
    poison = poison.replace('"Id": "poison/2"', '"Confidence": ' + "9" * 401 + ', "Id": "p/2"')
    put("b/poison.json", poison.encode())
    sarif = load_fixture("sources/sarif_multi_run.sarif.json")
    sarif["runs"][0]["properties"] = {"deep": "@"}
    deep = json.dumps(sarif).replace('"@"', "[" * 100_000 + "]" * 100_000)
    put("c/deep.sarif", deep.encode())
    put("d/good.json", _asff_report("good/3"))
    # When the collector runs
    summary = run()
    # Then the good findings are enqueued, each refused report is in the error report with
    # what is wrong and where, and the run went through to the end
    assert summary["error"] == ""
    assert summary["finished"] is True
    assert {f["Id"] for f in drain(stack["queue_url"])} == {"good/1", "good/2", "good/3"}
    assert _errors_of(summary) == {
        "s3://reports/b/poison.json": "invalid report: s3://reports/b/poison.json: integer of "
        "401 digits (at most 64) at [1].Confidence",
        "s3://reports/c/deep.sarif": "invalid report: s3://reports/c/deep.sarif: nested too "
        "deeply (more than 64 levels)",
    }
    assert summary["malformed"] == 2
    # And the cursor moved past them: the next run reads and reports nothing again.
    again = run()
    assert (again["records"], again["malformed"], again["errorReports"]) == (0, 0, [])


def test_a_report_that_is_not_utf8_or_holds_nan_is_reported(stack: dict[str, str]) -> None:
    put(
        "a/latin1.json", json.dumps(_asff_report("caf\u00e9"), ensure_ascii=False).encode("latin-1")
    )
    put(
        "b/nan.json",
        json.dumps(_asff_report("nan/1")).replace('"Id"', '"Confidence": NaN, "Id"').encode(),
    )
    put("c/good.json", _asff_report("good/1"))
    summary = run()
    assert {f["Id"] for f in drain(stack["queue_url"])} == {"good/1"}
    errors = _errors_of(summary)
    assert errors["s3://reports/a/latin1.json"].startswith(
        "invalid report: s3://reports/a/latin1.json: not valid UTF-8 (invalid continuation byte)"
    )
    assert errors["s3://reports/b/nan.json"] == (
        "invalid report: s3://reports/b/nan.json: NaN is not a JSON number at [0].Confidence"
    )
