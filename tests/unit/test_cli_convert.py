"""`hubrelay convert`: native files to findings that `hubrelay validate` accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubrelay import cli
from hubrelay.sources import files
from tests.support import FIXTURES

SOURCES = FIXTURES / "sources"


@pytest.fixture(autouse=True, params=["whole", "stream"])
def reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: files read whole, and every scanner report read as a stream (as
    one over 4 MiB is), which must print the same."""
    if request.param == "stream":
        monkeypatch.setattr(files, "STREAM_BYTES", -1)
    return str(request.param)


@pytest.mark.parametrize(
    ("name", "fmt", "findings", "errors"),
    [
        # Seven results, two of them one finding: the collector sends the first (as here).
        ("sarif_multi_run.sarif.json", "auto", 6, 0),
        ("trivy_image.json", "auto", 6, 1),
        ("grype_image.json", "grype", 4, 1),
        ("health_eventbridge.json", "auto", 2, 0),
        ("vendor_findings.json", "vendor", 4, 1),
        ("codeql_rules_in_extensions.sarif.json", "auto", 3, 0),
        ("gitleaks7.sarif.json", "sarif", 2, 0),
        # Three findings, two of them with one Id: the warning counts as an error.
        ("trivy_asff_no_region.json", "auto", 2, 1),
    ],
)
def test_convert_prints_findings_that_validate_accepts(
    name: str,
    fmt: str,
    findings: int,
    errors: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli.main(["convert", str(SOURCES / name), "--format", fmt, "--account", "111122223333"])
    out, err = capsys.readouterr()
    converted = json.loads(out)
    assert len(converted) == findings
    if name != "health_eventbridge.json":  # Health events name their own account
        assert {f["AwsAccountId"] for f in converted} == {"111122223333"}
    assert code == (1 if errors else 0)
    assert f"{findings} findings, {errors} errors" in err
    path = tmp_path / "out.json"
    path.write_text(out)
    assert cli.main(["validate", str(path)]) == 0


def test_convert_names_each_unmappable_record(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["convert", str(SOURCES / "trivy_image.json"), "--account", "111122223333"])
    _, err = capsys.readouterr()
    assert (
        "trivy_image.json#Results[0].Vulnerabilities[4]: MappingError: vulnerability without" in err
    )


def test_convert_uses_the_partner_product_arn_in_the_region(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli.main(
        [
            "convert",
            str(SOURCES / "grype_image.json"),
            "--account",
            "111122223333",
            "--region",
            "eu-west-1",
            "--product-arn",
            "arn:aws:securityhub:us-west-2:222222222222:product/generico/secure-pro",
        ]
    )
    converted = json.loads(capsys.readouterr().out)
    assert {f["ProductArn"] for f in converted} == {
        "arn:aws:securityhub:eu-west-1:222222222222:product/generico/secure-pro"
    }


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not_a_report.json", "unrecognised report"),
        ("truncated.sarif.json", "Expecting value"),
        ("missing.json", "No such file"),
    ],
)
def test_convert_refuses_unreadable_files_clearly(
    name: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["convert", str(SOURCES / name)]) == 2
    assert message in capsys.readouterr().err


def test_convert_fails_on_structurally_invalid_sarif_and_says_where(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli.main(["convert", str(SOURCES / "sarif_results_not_an_array.sarif.json")])
    out, err = capsys.readouterr()
    assert code == 1
    assert json.loads(out) == []
    assert (
        "sarif_results_not_an_array.sarif.json#runs[0].results: results is neither an array"
        " nor null (SARIF 2.1.0 §3.14.23)" in err
    )
    assert "0 records: 0 findings, 1 errors" in err


def test_convert_warns_about_a_duplicate_id_and_names_the_copy_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli.main(["convert", str(SOURCES / "trivy_asff_no_region.json"), "--account", "111122223333"])
    out, err = capsys.readouterr()
    assert (
        "trivy_asff_no_region.json#[0]: warning: duplicate Id 'registry.example.com/shop/api:"
        "1.4.2 (alpine 3.18.4)/CVE-2023-5363': kept the copy at "
    ) in err
    assert "trivy_asff_no_region.json#[1] (UpdatedAt 2026-10-30T10:00:00.101982070Z)" in err
    # Records are counted once duplicates are resolved: the warning names the third.
    assert "2 records: 2 findings, 1 errors" in err
    assert len({f["Id"] for f in json.loads(out)}) == 2


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (
            lambda text: text.replace('"V3Score": 7.5', '"V3Score": ' + "7" * 401, 1),
            "integer of 401 digits (at most 64) at Results[0].Vulnerabilities[0].CVSS.nvd.V3Score",
        ),
        (
            lambda text: text.replace('"Results": [', '"Results": [' + "[" * 100_000, 1),
            "nested too deeply (more than 64 levels)",
        ),
        (
            lambda text: text.replace('"V3Score": 7.5', '"V3Score": Infinity', 1),
            "Infinity is not a JSON number at Results[0].Vulnerabilities[0].CVSS.nvd.V3Score",
        ),
    ],
    ids=["integer-401", "100000-deep", "infinity"],
)
def test_convert_refuses_hostile_files_in_one_line_with_exit_2(
    edit: Any, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], reading: str
) -> None:
    path = tmp_path / "trivy.json"
    path.write_text(edit((SOURCES / "trivy_image.json").read_text()))
    assert cli.main(["convert", str(path)]) == 2
    out, err = capsys.readouterr()
    # Depth is counted before parsing a whole file, and so has no path; a stream names
    # the value too deep.
    deep = " at Results[0]" if reading == "stream" and "deeply" in reason else ""
    assert err == f"{path}: {reason}{deep}\n"
    assert out == ""


def test_convert_refuses_a_hostile_vendor_mapping_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "mapping.json"
    mapping.write_text('{"finding": ' + "[" * 100_000 + "]" * 100_000 + "}")
    vendor = str(SOURCES / "vendor_findings.json")
    code = cli.main(["convert", vendor, "--format", "vendor", "--mapping", str(mapping)])
    assert code == 2
    # The file at fault is the one named.
    err = capsys.readouterr().err
    assert err == f"vendor mapping {mapping}: nested too deeply (more than 64 levels)\n"


def test_convert_message_prints_one_queue_message_that_validate_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = str(SOURCES / "sarif_multi_run.sarif.json")
    code = cli.main(["convert", source, "--message", "--account", "111122223333"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert not out.endswith("\n")  # the file is the message body, byte for byte
    document = json.loads(out)
    assert document["version"] == 1
    assert len(document["findings"]) == 6  # of 7 results, two share an Id
    path = tmp_path / "message.json"
    path.write_text(out)
    assert cli.main(["validate", str(path)]) == 0
    assert "6 findings: 6 valid, 0 invalid" in capsys.readouterr().out


def test_convert_message_packs_a_list_of_messages_under_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = str(SOURCES / "sarif_multi_run.sarif.json")
    args = ["convert", source, "--message", "--max-message-bytes", "4096"]
    assert cli.main([*args, "--account", "111122223333"]) == 0
    out, _ = capsys.readouterr()
    messages = json.loads(out)
    assert isinstance(messages, list)
    assert len(messages) > 1
    assert all(len(json.dumps(m).encode()) <= 4096 for m in messages)
    assert sum(len(m["findings"]) for m in messages) == 6
    path = tmp_path / "messages.json"
    path.write_text(out)
    assert cli.main(["validate", str(path)]) == 0
    assert "6 findings: 6 valid, 0 invalid" in capsys.readouterr().out


def test_convert_message_says_in_one_line_when_a_finding_cannot_fit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = str(SOURCES / "sarif_multi_run.sarif.json")
    args = ["convert", source, "--message", "--max-message-bytes", "1024"]
    assert cli.main([*args, "--account", "111122223333"]) == 2
    _, err = capsys.readouterr()
    assert "over the 1024-byte message limit" in err


# --- One-line errors, the account, filtered records, progress ----------------------------


def test_convert_without_account_reads_it_from_sts(capsys: pytest.CaptureFixture[str]) -> None:
    from moto import mock_aws

    with mock_aws():
        code = cli.main(["convert", str(SOURCES / "sarif_multi_run.sarif.json")])
    out, err = capsys.readouterr()
    assert code == 0
    assert {f["AwsAccountId"] for f in json.loads(out)} == {"123456789012"}
    assert "account 123456789012 (yours, from STS GetCallerIdentity; --account to choose)" in err


def test_convert_without_account_or_credentials_says_to_pass_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The old default put every finding in account 123456789012 without a word.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code = cli.main(["convert", str(SOURCES / "sarif_multi_run.sarif.json")])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err == (
        "no --account and no AWS credentials to read it from: pass --account <12-digit "
        "account id> (the AwsAccountId of the findings)\n"
    )


def test_an_unknown_format_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["convert", str(SOURCES / "trivy_image.json"), "--format", "nessus"])
    _, err = capsys.readouterr()
    assert exit_.value.code == 2
    assert err.startswith("hubrelay convert: argument --format: invalid choice: 'nessus'")
    assert err.count("\n") == 1


def test_a_filtered_health_event_says_why_it_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = json.loads((SOURCES / "health_eventbridge.json").read_text())[0]
    event["detail"].update(service="EC2", eventTypeCode="AWS_EC2_INSTANCE_STOP_SCHEDULED")
    path = tmp_path / "health.json"
    path.write_text(json.dumps(event))
    code = cli.main(["convert", str(path), "--account", "123456789012"])
    out, err = capsys.readouterr()
    assert code == 0
    assert json.loads(out) == []
    assert (
        f"{path}#[0]: filtered: service 'EC2', eventTypeCode 'AWS_EC2_INSTANCE_STOP_SCHEDULED' "
        "is not a security event"
    ) in err
    assert "1 records: 0 findings, 0 errors, 1 not sent (filtered)" in err


def test_a_long_convert_shows_progress_on_stderr(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    reading: str,
) -> None:
    from hubrelay.commands.common import Progress
    from hubrelay_emulator import samples

    monkeypatch.setattr(Progress, "every_s", 0.0)
    path = tmp_path / "trivy.json"
    path.write_text(json.dumps(samples.trivy_report(1500)))
    assert cli.main(["convert", str(path), "--account", "123456789012"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 1500
    # Read as a stream, the number of records is known only at its end.
    assert ("records mapped: 750\n" if reading == "stream" else "records mapped: 750/1500") in err
    assert "records mapped: 1500/1500" in err


def test_convert_of_a_large_report_holds_neither_the_file_nor_its_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reading: str
) -> None:
    import sys
    import tracemalloc

    from hubrelay_emulator import samples

    if reading == "stream":
        pytest.skip("compares both ways itself")
    path = tmp_path / "codeql.sarif"
    path.write_text(json.dumps(samples.sarif_report(3_000, rules_after=True)))
    small = str(SOURCES / "sarif_multi_run.sarif.json")

    def peak(stream_bytes: int) -> int:
        monkeypatch.setattr(files, "STREAM_BYTES", stream_bytes)
        with (tmp_path / "out.json").open("w") as out:
            monkeypatch.setattr(sys, "stdout", out)
            cli.main(["convert", small, "--account", "111122223333"])  # one-time imports
            tracemalloc.start()
            try:
                assert cli.main(["convert", str(path), "--account", "111122223333"]) == 0
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
                monkeypatch.undo()

    whole, streamed = peak(10**12), peak(-1)
    # Whole: the log's objects and every finding at once (several MB); as a stream, one
    # window of the file, the run's rules and artifacts, and one finding at a time.
    assert streamed < whole / 5, (streamed, whole)


def test_convert_leaves_out_a_second_result_with_the_same_id_as_the_collector_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given Checkov's SARIF with a result twice (a module used twice: the same file, rule,
    # lines and message, no fingerprints), which the collector sends once
    document = json.loads((SOURCES / "checkov_terraform.sarif.json").read_text())
    results = document["runs"][0]["results"]
    results.insert(1, json.loads(json.dumps(results[0])))
    path = tmp_path / "checkov.sarif"
    path.write_text(json.dumps(document))
    # When it is converted
    code = cli.main(["convert", str(path), "--account", "111122223333"])
    out, err = capsys.readouterr()
    # Then the second is left out and named, as not sent (before: printed twice, one Id)
    converted = json.loads(out)
    assert len({f["Id"] for f in converted}) == len(converted) == len(results) - 1
    assert f"{path}#runs[0].results[1]: same Id as an earlier finding: hubrelay/sarif/" in err
    assert f"{len(results)} records: {len(results) - 1} findings, 0 errors, 1 not sent" in err
    assert code == 0


def test_a_gzipped_report_is_refused_as_gzip_not_as_broken_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a Trivy report uploaded gzip-compressed
    import gzip

    path = tmp_path / "trivy.json.gz"
    path.write_bytes(gzip.compress((SOURCES / "trivy_image.json").read_bytes()))
    # When it is converted, read whole or as a stream
    code = cli.main(["convert", str(path), "--account", "111122223333"])
    _, err = capsys.readouterr()
    # Then one line says what it is (before: "not valid UTF-8 (invalid start byte) at byte 1")
    assert code == 2
    assert (
        err
        == f"{path}: gzip-compressed (RFC 1952): reports are read as uncompressed JSON; gunzip it\n"
    )


def test_convert_like_the_collector_keeps_the_first_copy_of_an_id_even_an_invalid_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a vendor page with one finding twice, its first copy invalid (a 40-character
    # Region): the collector keeps the first of an Id, which validation then refuses
    # (helper-75: convert printed the second, which the collector never sends)
    (good, *_) = json.loads((SOURCES / "vendor_findings.json").read_text())
    bad = json.loads(json.dumps(good))
    bad["asset"]["region"] = "x" * 40
    path = tmp_path / "page.json"
    path.write_text(json.dumps([bad, good]))
    code = cli.main(["convert", str(path), "--format", "vendor", "--account", "111122223333"])
    out, err = capsys.readouterr()
    # Then neither is printed: the first is an error, the second a copy of its Id
    assert json.loads(out) == []
    assert f"{path}#[1]: same Id as an earlier finding: vendor/{good['id']}" in err
    assert "2 records: 0 findings, 1 errors, 1 not sent" in err
    assert code == 1
