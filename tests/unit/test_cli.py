"""`hubrelay validate`: the partner's pre-flight check."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hubrelay import cli
from tests.support import FIXTURES


@pytest.mark.parametrize(
    "shape",
    [lambda fs: fs, lambda fs: {"Findings": fs}, lambda fs: {"version": 1, "findings": fs}],
    ids=["array", "Findings", "queue-message"],
)
def test_validate_accepts_every_documented_file_shape(tmp_path, finding, capsys, shape):
    path = tmp_path / "findings.json"
    path.write_text(json.dumps(shape([finding])))
    assert cli.main(["validate", str(path)]) == 0
    assert "1 findings: 1 valid, 0 invalid" in capsys.readouterr().out


def test_validate_prints_each_problem_and_exits_1(tmp_path, finding, capsys):
    bad = dict(finding, Id="bad-one", Title="t" * 300, AwsAccountId="42")
    path = tmp_path / "findings.json"
    path.write_text(json.dumps([finding, bad]))
    assert cli.main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "[1] INVALID" in out
    assert "finding 'bad-one': Title: wrong length (limit 1..256 characters, got 300)" in out
    assert "finding 'bad-one': AwsAccountId: not a 12-digit account id" in out
    assert "2 findings: 1 valid, 1 invalid" in out


def test_validate_accepts_trivys_own_asff_output(capsys):
    # Trivy's contrib/asff.tpl names its product as Security Hub lists it, without an
    # account: arn:aws:securityhub:<region>::product/aquasecurity/aquasecurity
    path = FIXTURES / "sources" / "trivy_asff.json"
    assert cli.main(["validate", str(path)]) == 0
    assert "2 findings: 2 valid, 0 invalid" in capsys.readouterr().out


def test_validate_still_refuses_a_product_arn_with_an_11_digit_account(tmp_path, capsys):
    document = json.loads((FIXTURES / "sources" / "trivy_asff.json").read_text())
    document["Findings"][1]["ProductArn"] = (
        "arn:aws:securityhub:us-east-1:12345678901:product/aquasecurity/aquasecurity"
    )
    path = tmp_path / "findings.json"
    path.write_text(json.dumps(document))
    assert cli.main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "[1] INVALID" in out
    assert (
        "ProductArn: 'arn:aws:securityhub:us-east-1:12345678901:product/aquasecurity/"
        "aquasecurity' is not arn:<partition>:securityhub:"
    ) in out
    assert "2 findings: 1 valid, 1 invalid" in out


def test_validate_reports_an_unreadable_file_with_exit_2(tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    assert cli.main(["validate", str(path)]) == 2
    assert "broken.json" in capsys.readouterr().err


def test_console_script_is_installed(tmp_path, finding):
    path = tmp_path / "findings.json"
    path.write_text(json.dumps([finding]))
    script = sys.executable.rsplit("/", 1)[0] + "/hubrelay"
    result = subprocess.run(
        [script, "validate", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def _hostile_files(tmp_path, finding):
    """(file, the reason the CLI must give) for inputs the loading policy refuses."""
    huge = tmp_path / "huge.json"
    text = json.dumps([dict(finding, Confidence=80)])
    huge.write_text(text.replace('"Confidence": 80', '"Confidence": ' + "9" * 401))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    nan = tmp_path / "nan.json"
    nan.write_text('{"Findings": [{"Confidence": NaN}]}')
    latin = tmp_path / "latin1.json"
    latin.write_bytes('[{"Title": "caf\u00e9"}]'.encode("latin-1"))
    return [
        (huge, "integer of 401 digits (at most 64) at [0].Confidence"),
        (deep, "nested too deeply (more than 64 levels)"),
        (nan, "NaN is not a JSON number at Findings[0].Confidence"),
        (latin, "not valid UTF-8 (invalid continuation byte) at byte 15"),
    ]


def test_validate_refuses_hostile_files_in_one_line_with_exit_2(tmp_path, finding, capsys):
    for path, reason in _hostile_files(tmp_path, finding):
        assert cli.main(["validate", str(path)]) == 2
        captured = capsys.readouterr()
        assert captured.err == f"{path}: {reason}\n"
        assert captured.out == ""


def test_validate_of_a_deep_file_prints_no_traceback(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"Findings": [' + "[" * 100_000 + "]" * 100_000 + "]}")
    script = sys.executable.rsplit("/", 1)[0] + "/hubrelay"
    result = subprocess.run(
        [script, "validate", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stderr == f"{path}: nested too deeply (more than 64 levels)\n"


def test_a_command_leaves_the_librarys_logger_as_it_found_it(tmp_path, finding, capsys):
    # The command line logs to stderr at ERROR; a Lambda handler in the same process (the
    # tests, the local stack) must still log its warnings to stdout afterwards.
    from hubrelay.observability import _handler, logger

    before = (logger.log_level, _handler.stream)
    path = tmp_path / "findings.json"
    path.write_text(json.dumps([finding]))
    assert cli.main(["validate", str(path)]) == 0
    assert (logger.log_level, _handler.stream) == before
