"""`make demo ARGS=...`: a mistake in the arguments is one line and exit code 2 before the
stack comes up (it was a Python traceback for a --param, and a report the collector cannot
read at all failed only after the whole demo had run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hubrelay_emulator import cfn, demo
from hubrelay_emulator.runner import StackEmulator
from tests.support import FIXTURES, ROOT

SOURCES = FIXTURES / "sources"


@pytest.fixture(autouse=True)
def no_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every case here must stop before anything starts."""

    def up(self: StackEmulator) -> Any:
        raise AssertionError("the stack came up")

    monkeypatch.setattr(StackEmulator, "up", up)


def _refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert demo.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err.rstrip("\n")


@pytest.mark.parametrize(
    ("params", "said"),
    [
        (["Foo"], "make demo: --param 'Foo': expected NAME=VALUE"),
        (["Foo=1"], "make demo: --param: unknown parameters: ['Foo']"),
        (
            ["BatchByteBudget=12"],
            "make demo: --param: parameter BatchByteBudget=12 is below 245760",
        ),
        (
            ["BatchByteBudget=lots"],
            "make demo: --param: parameter BatchByteBudget='lots' is not a number",
        ),
        (
            ["ImportBatchSize=100", "ImportBatchingWindowSeconds=0"],
            "make demo: --param: the template's Rules refuse these parameters: "
            "LargeBatchesNeedBatchingWindow: Lambda requires a batching window of at least 1 "
            "second for SQS batches larger than 10",
        ),
        (
            ["WebhookSecretName="],
            "make demo: --param: the template's Rules refuse these parameters: "
            "WebhookNeedsSecret: EnableWebhook is true, so WebhookSecretName must name",
        ),
    ],
    ids=["no-equals", "unknown", "below-min", "not-a-number", "rule", "rule-demo-default"],
)
def test_a_parameter_cloudformation_would_refuse_is_one_line_before_the_stack(
    params: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [arg for param in params for arg in ("--param", param)]
    assert _refusal(argv, capsys).startswith(said)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the file is empty (0 bytes), expected a scanner report"),
        ("\n \n", "the file is empty (only whitespace), expected a scanner report"),
        ("name,severity\nx,HIGH\n", "not JSON: Expecting value: line 1 column 1 (char 0)"),
        ('{"foo": 1}', "unrecognised report: expected SARIF 2.1.0, Trivy JSON, Grype JSON"),
    ],
    ids=["0-bytes", "whitespace", "csv", "another-tool"],
)
def test_a_report_the_collector_cannot_read_at_all_is_refused_before_the_stack(
    text: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "report.json"
    path.write_text(text)
    assert _refusal(["--report", str(path)], capsys).startswith(
        f"make demo: --report {path}: {reason}"
    )


@pytest.mark.parametrize(
    ("argv", "source"),
    [(["--source", "vendor_api"], "vendor_api"), (["--param", "Source=health"], "health")],
)
def test_a_report_with_another_source_is_refused_before_the_stack(
    argv: list[str], source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report = str(SOURCES / "trivy_image.json")
    assert _refusal(["--report", report, *argv], capsys) == (
        f"make demo: --report needs the scanner_reports source (the default), not {source}"
    )


def test_a_folder_as_the_report_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _refusal(["--report", str(tmp_path)], capsys) == (
        f"make demo: --report {tmp_path}: Is a directory"
    )


def test_the_template_rules_pass_at_the_defaults_and_at_the_demos_parameters() -> None:
    template = cfn.load(demo.TEMPLATE)
    values = cfn.parameter_values(template, {}, resolve_ssm=lambda name: name)
    assert cfn.rule_violations(template, values) == []
    # And each rule the template has is one the checker reads (an unknown function raises)
    every = {"EnableVendorBackSync": "true", "EnableStatusSync": "true", "Source": "vendor_api"}
    broken = cfn.rule_violations(template, {**values, **every, "ImportBatchingWindowSeconds": "0"})
    assert [line.split(":")[0] for line in broken] == [
        "VendorApiNeedsUrlAndSecret",
        "VendorApiNeedsUrlAndSecret",
        "LargeBatchesNeedBatchingWindow",
        "BackSyncNeedsApi",
        "BackSyncNeedsApi",
    ]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_adds_nothing_to_the_demos_stdout() -> None:
    # `make demo ARGS=--json | jq` needs stdout to be the demo's alone: make echoed the
    # recipe's command line there first
    done = subprocess.run(
        ["make", "--no-print-directory", "demo", "ARGS=--help"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: make demo"), done.stdout[:200]


@pytest.mark.parametrize("option", ["--findings", "--vulnerabilities"])
def test_a_negative_sample_size_is_refused(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        demo.main([option, "-5"])
    assert stopped.value.code == 2
    assert f"argument {option}: expected a whole number, 0 or more: '-5'" in capsys.readouterr().err


def test_the_help_says_what_the_demo_does_and_how_to_try_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        demo.main(["--help"])
    out = capsys.readouterr().out
    assert "python -m hubrelay_emulator.demo" not in out  # the docstring's, for developers
    assert 'make demo ARGS="--report trivy.json"' in out
