"""A new user's mistakes with the `hubrelay` command: each is one line on stderr naming the
input and the reason, exit code 2, never a Python traceback or an error per record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubrelay import cli
from tests.support import FIXTURES

SOURCES = FIXTURES / "sources"
ACCOUNT = ["--account", "111122223333"]
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/111122223333/findings"
# Every command that reads a file, with the options it needs to get as far as reading it.
READERS = [
    ["validate"],
    ["convert", *ACCOUNT],
    ["send", "--dry-run"],
    ["enqueue", "--dry-run", "--queue-url", QUEUE_URL],
    ["route", "--template", "template.yaml"],
]
READER_IDS = [argv[0] for argv in READERS]


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err.rstrip("\n")


@pytest.mark.parametrize("argv", READERS, ids=READER_IDS)
@pytest.mark.parametrize(("text", "what"), [("", "0 bytes"), (" \n\t\n", "only whitespace")])
def test_an_empty_file_is_called_empty_by_every_command(
    argv: list[str], text: str, what: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "report.json"
    path.write_text(text)
    assert cli.main([argv[0], str(path), *argv[1:]]) == 2
    assert _one_line(capsys) == f"{path}: the file is empty ({what}), expected JSON"


@pytest.mark.parametrize("argv", READERS, ids=READER_IDS)
def test_a_missing_file_or_a_folder_is_named_with_the_reason_alone(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.json"
    assert cli.main([argv[0], str(missing), *argv[1:]]) == 2
    assert _one_line(capsys) == f"{missing}: No such file or directory"
    assert cli.main([argv[0], str(tmp_path), *argv[1:]]) == 2
    assert _one_line(capsys) == f"{tmp_path}: Is a directory"


@pytest.mark.parametrize("command", ["validate", "send", "enqueue"])
@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("trivy_image.json", "a Trivy report"),
        ("grype_image.json", "a Grype report"),
        ("sarif_multi_run.sarif.json", "a SARIF log"),
    ],
)
def test_a_scanner_report_where_findings_go_says_to_convert_it_first(
    command: str, name: str, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(SOURCES / name)
    extra = ["--dry-run"] if command == "send" else []
    if command == "enqueue":
        extra = ["--dry-run", "--queue-url", QUEUE_URL]
    assert cli.main([command, path, *extra]) == 2
    assert _one_line(capsys) == (
        f"{path}: {kind}, not ASFF findings: convert it first, hubrelay convert {path} "
        "--account <12-digit account id> --message > message.json"
    )


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--account", "12"], "argument --account: not a 12-digit account id: '12'"),
        (["--account", "abcdefghijkl"], "argument --account: not a 12-digit account id"),
        ([*ACCOUNT, "--region", "mars-1"], "argument --region: not a Region code"),
        ([*ACCOUNT, "--region", ""], "argument --region: not a Region code"),
        (
            [*ACCOUNT, "--message", "--max-message-bytes", "-1"],
            "argument --max-message-bytes: must be above 0, got -1",
        ),
    ],
    ids=["account-2-digits", "account-letters", "region", "region-empty", "size-negative"],
)
def test_a_bad_option_of_convert_is_one_line_not_an_error_per_record(
    argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["convert", str(SOURCES / "trivy_image.json"), *argv])
    assert stopped.value.code == 2
    assert _one_line(capsys).startswith(f"hubrelay convert: {reason}")


def test_validate_refuses_a_finding_size_limit_of_zero(
    finding: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "findings.json"
    path.write_text(json.dumps([finding]))
    with pytest.raises(SystemExit) as stopped:
        cli.main(["validate", str(path), "--max-finding-bytes", "0"])
    assert stopped.value.code == 2
    assert "argument --max-finding-bytes: must be above 0, got 0" in _one_line(capsys)


def test_a_missing_vendor_mapping_is_named_as_the_mapping_not_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "my-mapping.json"
    page = str(SOURCES / "vendor_findings.json")
    assert cli.main(["convert", page, "--format", "vendor", "--mapping", str(mapping)]) == 2
    assert _one_line(capsys) == f"vendor mapping {mapping}: No such file or directory"


def test_a_mapping_without_format_reads_the_file_as_a_vendor_page(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the walk-through's command without --format vendor (a vendor page is no
    # scanner report: auto detection alone calls it unrecognised)
    mapping = "layers/hubrelay/python/hubrelay/mapping/vendor_default.json"
    page = str(SOURCES / "vendor_findings.json")
    code = cli.main(["convert", page, "--mapping", mapping, *ACCOUNT])
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 4
    assert "4 findings, 1 errors" in err
    assert code == 1  # the fixture's one unmappable record
    # And a mapping given with another format is a mistake said in one line
    assert cli.main(["convert", page, "--mapping", mapping, "--format", "trivy", *ACCOUNT]) == 2
    assert _one_line(capsys) == "--mapping is for --format vendor, not --format trivy"


@pytest.mark.parametrize("name", ["trivy_image.json", "not_a_report.json"])
def test_route_of_a_file_that_is_no_event_says_so_rather_than_ask_for_an_account(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(SOURCES / name)
    assert cli.main(["route", path, "--template", "template.yaml"]) == 2
    assert _one_line(capsys).startswith(
        f'{path}: not an EventBridge event (no "detail-type"): route reads a Security Hub event'
    )


@pytest.mark.parametrize("command", ["send", "enqueue"])
def test_a_finding_given_twice_is_counted_in_the_summary(
    command: str, finding: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the same finding twice and another (read 3, sent 2, invalid 0: one to explain)
    path = tmp_path / "findings.json"
    path.write_text(json.dumps([finding, finding, dict(finding, Id="another")]))
    extra = ["--queue-url", QUEUE_URL] if command == "enqueue" else []
    assert cli.main([command, str(path), "--dry-run", *extra]) == 0
    out = capsys.readouterr().out
    assert "findings read            3\n" in out
    assert "same finding twice       1 (the same Id, ProductArn and account again" in out
    assert " 2 in 1 BatchImportFindings" in out or "2 findings in 1 messages" in out


def test_a_file_without_repeats_has_no_repeat_row(
    finding: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "findings.json"
    path.write_text(json.dumps([finding]))
    assert cli.main(["send", str(path), "--dry-run"]) == 0
    assert "same finding twice" not in capsys.readouterr().out


def test_the_help_speaks_to_users_not_to_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "hubrelay.commands" not in out
    assert "`hubrelay COMMAND --help`" in out


def test_an_unrecognised_file_names_every_kind_convert_reads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = str(SOURCES / "not_a_report.json")
    assert cli.main(["convert", path, *ACCOUNT]) == 2
    assert _one_line(capsys) == (
        f"{path}: unrecognised report: expected SARIF 2.1.0, Trivy JSON, Grype JSON or ASFF "
        "findings, or AWS Health events (a vendor API page needs --mapping FILE or "
        "--format vendor)"
    )


@pytest.mark.parametrize("command", ["validate", "send"])
def test_an_eventbridge_event_where_findings_go_says_route_reads_it(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(FIXTURES / "events" / "custom-action-multi.json")
    assert cli.main([command, path, *(["--dry-run"] if command == "send" else [])]) == 2
    assert _one_line(capsys) == (
        f"{path}: an EventBridge event, not ASFF findings: hubrelay route {path} previews it"
    )
