"""The commands of README.md and docs/*.md that can run here, run as written: each `hubrelay`
command (against moto where it reaches AWS: the queue a stack's FindingsQueueUrl names is a
moto queue) in a folder laid out like a clone, in page order, and `make build`. The others are
checked in tests/unit/test_doc_commands.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from hubrelay import aws, cli
from hubrelay_release import wheel
from tests.support import ROOT, load_fixture
from tests.unit.test_doc_commands import COMMANDS, Command, program

# Files a page's commands read that the page shows but does not write, by page and name.
SETUP_EXAMPLE = re.compile(r"<!-- example message[^\n]*-->\s*```json\n(.*?)```", re.S)


def _readme_findings() -> list[dict[str, object]]:
    """findings.json of the README's validate transcript: one valid, one with its two faults."""
    valid = load_fixture("findings/valid.json")
    bad = {**valid, "Id": "bad-one", "Title": "x" * 300, "AwsAccountId": "12"}
    return [valid, bad]


def _setup_message() -> str:
    example = SETUP_EXAMPLE.search((ROOT / "docs/setup.md").read_text(encoding="utf-8"))
    assert example, "docs/setup.md lost its example message"
    return "\n".join(line.strip() for line in example[1].splitlines())


def _seed(page: str, folder: Path) -> None:
    if page == "README.md":
        (folder / "findings.json").write_text(json.dumps(_readme_findings()))
    if page == "docs/setup.md":
        (folder / "message.json").write_text(_setup_message())
    if page == "docs/vendor-mapping.md":  # the page of the vendor API the page shows
        text = (ROOT / page).read_text(encoding="utf-8")
        (folder / "page.json").write_text(text.split("```json\n", 1)[1].split("```", 1)[0])
        mapping = ROOT / "layers/hubrelay/python/hubrelay/mapping/vendor_default.json"
        shutil.copy(mapping, folder / "my-mapping.json")


def runnable(command: Command) -> bool:
    return program(command) == "hubrelay"


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder that looks like a clone to the commands (tests/, template.yaml), as cwd."""
    for name in ("tests", "template.yaml", "layers"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, "testing" if "REGION" not in name else "us-east-1")
    with mock_aws():
        aws.reset()
        yield tmp_path
    aws.reset()


def _argv(command: Command, queue_url: str) -> list[str]:
    return [queue_url if word == "<FindingsQueueUrl>" else word for word in command.argv[1:]]


PAGES_RUN = sorted({c.page for c in COMMANDS if runnable(c)})


@pytest.mark.parametrize("page", PAGES_RUN)
def test_the_hubrelay_commands_of_each_page_run_as_written(
    page: str, clone: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(page, clone)
    queue_url = boto3.client("sqs").create_queue(QueueName="FindingsQueue")["QueueUrl"]
    for command in (c for c in COMMANDS if c.page == page and runnable(c)):
        try:
            code = cli.main(_argv(command, queue_url))
        except SystemExit as exit_:  # --help
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        if command.stdout:
            (clone / command.stdout).write_text(out)
        transcript = _transcript(command)
        if transcript is not None:
            assert out.splitlines() == transcript, f"{command}: prints other than the page shows"
        else:
            assert code == 0, f"{command}: exit {code}\n{err}"
        assert "Traceback" not in err, f"{command}:\n{err}"
    if page == "docs/setup.md":  # enqueue sent the example onto the (moto) queue
        sent = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        bodies = [json.loads(m["Body"]) for m in sent.get("Messages", [])]
        ids = [f["Id"] for body in bodies for f in body["findings"]]
        assert ids == ["hubrelay-setup-check-1"]


def _transcript(command: Command) -> list[str] | None:
    """The output lines the page shows after the command's `$ ` line, if it shows any."""
    lines = (ROOT / command.page).read_text(encoding="utf-8").splitlines()
    if not lines[command.line - 1].lstrip().startswith("$ "):
        return None
    shown = []
    for line in lines[command.line :]:
        if line.strip().startswith(("```", "$ ")):
            break
        shown.append(line)
    return shown


def test_every_page_with_a_runnable_command_has_what_it_reads() -> None:
    # the commands read files the page shows: each page run above is seeded with them
    assert PAGES_RUN == [
        "README.md",
        "docs/securityhub-editions.md",  # reads only tests/ and template.yaml
        "docs/setup.md",
        "docs/vendor-mapping.md",
    ]


@pytest.mark.slow  # make, and a full build
def test_make_build_as_documented_writes_the_zips_and_the_wheel(tmp_path: Path) -> None:
    builds = [c for c in COMMANDS if c.argv == ("make", "build")]
    assert builds
    release = f"{ROOT / '.venv/bin/python'} -m hubrelay_release --out {tmp_path}"
    done = subprocess.run(
        ["make", "--no-print-directory", "-o", "venv", *builds[0].argv[1:], f"RELEASE={release}"],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    name = wheel.wheel_name(wheel.project_table(ROOT))
    assert (tmp_path / "dist" / name).is_file()
    assert (tmp_path / "layers" / "hubrelay.zip").is_file()
    assert f"pipx install '{tmp_path / 'dist' / name}[cli]'" in done.stdout
