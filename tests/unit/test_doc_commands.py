"""Every command in the shell blocks of README.md and docs/*.md is one a test runs or checks.

Each command is read from the page as a reader copies it (continuation lines joined,
comments and a `$ ` prompt dropped) and checked against what it invokes: `hubrelay ...`
parses with the command's own argument parser, `make ...` names a target of the Makefile
with variables its recipe reads (the required ones given), `aws ...` names an operation of
botocore's model of the service with parameters of its input (the required ones given,
JSON values that parse). The ones that can run here run in
tests/integration/test_doc_commands_run.py; any other program must be in OTHER_COMMANDS
with the test that covers it, so a new command in the docs fails here until one does.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from hubrelay import cli
from hubrelay_release import wheel
from tests.support import ROOT

PAGES = ("README.md", *sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("docs/*.md")))
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console"})
KNOWN_PROGRAMS = frozenset({"hubrelay", "make", "aws"})
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^[ \t]*```", re.M | re.S
)

# Make targets a doc names that test_doc_commands_run.py does not run, and the test that
# runs each (package, deploy and publish against moto; their errors through make in
# test_release_errors.py); every one is checked against the Makefile here.
MAKE_RUN_ELSEWHERE = {
    "demo": "tests/e2e/test_pipeline.py::test_demo_report_matches_what_happened",
    "test": ".ci/run",
    "package": "tests/integration/test_release.py::test_package_uploads_the_release_layout",
    "deploy": (
        "tests/integration/test_release.py::test_deploy_creates_the_stack_from_the_uploaded_artifacts"
    ),
    "publish": "tests/integration/test_release.py::test_publish_command_against_a_moto_server",
}
# Programs other than hubrelay, make and aws, by their first two words: the test covering each.
OTHER_COMMANDS = {
    ("pipx", "install"): (
        "tests/integration/test_release_wheel.py::"
        "test_the_wheel_installs_into_a_fresh_venv_and_the_command_runs"
    ),
}
# Options every AWS CLI command takes (https://docs.aws.amazon.com/cli/latest/reference/#options)
# and those of paginated operations.
AWS_GLOBAL_OPTIONS = frozenset(
    {
        "--query", "--output", "--region", "--profile", "--endpoint-url", "--no-cli-pager",
        "--cli-input-json", "--cli-input-yaml", "--debug", "--no-paginate", "--max-items",
        "--page-size", "--starting-token", "--no-verify-ssl", "--color",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    text: str
    argv: tuple[str, ...]
    stdout: str | None = None  # `> FILE`

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


def _logical_lines(body: str, first_line: int, transcript: bool) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for offset, raw in enumerate(body.splitlines()):
        line = raw.strip()
        if not pending:
            start = first_line + offset
            if transcript:
                if not line.startswith("$ "):
                    continue
                line = line[2:]
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        if text and not text.startswith("#"):
            lines.append((start, text))
    return lines


def _command(page: str, line: int, text: str) -> Command:
    words = shlex.split(text, comments=True)
    assignment = re.fullmatch(r"[A-Za-z_]\w*=\$\((.*)\)", " ".join(words))
    if assignment:  # NAME=$(command ...): the command inside
        words = shlex.split(assignment[1])
    stdout = None
    if ">" in words:
        at = words.index(">")
        stdout, words = words[at + 1], words[:at] + words[at + 2 :]
    for word in words:
        assert word not in {"|", "&&", "||", ";", "<", ">>"}, (
            f"{page}:{line}: split `{text}` into one command per line for the doc test"
        )
    return Command(page, line, " ".join(text.split()), tuple(words), stdout)


def commands(pages: tuple[str, ...] = PAGES, root: Path = ROOT) -> list[Command]:
    """The commands of every shell block (and `$ ` line of an unlabelled one) of the pages."""
    found = []
    for page in pages:
        text = (root / page).read_text(encoding="utf-8")
        for block in FENCE.finditer(text):
            lang, body = block["lang"], block["body"]
            transcript = not lang and body.lstrip().startswith("$ ")
            first_word = (body.split() or [""])[0]
            bare = not lang and Path(first_word).name in KNOWN_PROGRAMS  # an unlabelled command
            if lang not in SHELL_LANGUAGES and not transcript and not bare:
                continue
            first = text.count("\n", 0, block.start("body")) + 1
            found += [_command(page, n, t) for n, t in _logical_lines(body, first, transcript)]
    return found


COMMANDS = commands()


def program(command: Command) -> str:
    return Path(command.argv[0]).name


def of(name: str) -> list[Command]:
    return [c for c in COMMANDS if program(c) == name]


def test_the_docs_have_commands_of_every_kind() -> None:
    # the extraction itself: a change of fences that hid the blocks would make the rest vacuous
    assert {program(c) for c in COMMANDS} >= {"hubrelay", "make", "aws", "pipx"}
    assert len(COMMANDS) >= 20
    assert any(c.page.startswith("docs/") for c in of("aws"))


def uncovered(found: list[Command]) -> list[str]:
    return [
        str(c)
        for c in found
        if program(c) not in KNOWN_PROGRAMS and tuple(c.argv[:2]) not in OTHER_COMMANDS
    ]


def test_every_command_is_one_the_doc_tests_know() -> None:
    unknown = uncovered(COMMANDS)
    assert not unknown, (
        "commands in the docs that no test runs or checks; add each to OTHER_COMMANDS in "
        f"tests/unit/test_doc_commands.py with the test that covers it: {unknown}"
    )


@pytest.mark.parametrize(
    "covered", sorted({*MAKE_RUN_ELSEWHERE.values(), *OTHER_COMMANDS.values()})
)
def test_the_tests_named_as_covering_a_command_exist(covered: str) -> None:
    path, _, name = covered.partition("::")
    assert (ROOT / path).is_file(), covered
    if name:
        assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), covered


class _Parsed(Exception):  # a signal carrying the parsed arguments out of cli.main
    def __init__(self, namespace: argparse.Namespace) -> None:
        super().__init__()
        self.namespace = namespace


def parse_hubrelay(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    """What the hubrelay command's own parser makes of argv; fails where the command would."""
    parse = argparse.ArgumentParser.parse_args

    def parsed(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        raise _Parsed(parse(self, *args, **kwargs))

    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", parsed)
        try:
            cli.main(argv)
        except _Parsed as done:
            return done.namespace
    raise AssertionError(f"hubrelay {argv} did not parse")


@pytest.mark.parametrize("command", of("hubrelay"), ids=str)
def test_each_hubrelay_command_parses_as_the_command_reads_it(
    command: Command, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        namespace = parse_hubrelay(list(command.argv[1:]), monkeypatch)
    except SystemExit as exit_:
        if "--help" in command.argv and exit_.code == 0:
            return
        pytest.fail(f"{command}: {capsys.readouterr().err.strip()}")
    assert namespace.command == command.argv[1]


def _makefile_rules() -> dict[str, str]:
    """target -> its rule (the target line and recipe) in the Makefile."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return {
        rule.group(1): rule.group(0)
        for rule in re.finditer(r"^([a-z][a-z-]*):.*\n(?:\t.*\n)*", text, re.M)
    }


@pytest.mark.parametrize("command", of("make"), ids=str)
def test_each_make_command_names_a_target_with_the_variables_it_reads(command: Command) -> None:
    rules = _makefile_rules()
    targets = [w for w in command.argv[1:] if "=" not in w and not w.startswith("-")]
    given = dict(w.split("=", 1) for w in command.argv[1:] if "=" in w)
    assert targets, command
    for target in targets:
        assert target in rules, f"{command}: the Makefile has no target {target}"
        rule = rules[target]
        unread = [name for name in given if f"$({name})" not in rule and f"$${name}" not in rule]
        assert not unread, f"{command}: {target} does not read {unread}"
        required = re.findall(r'-n "\$\((\w+)\)"', rule)
        missing = [name for name in required if not given.get(name)]
        assert not missing, f"{command}: {target} needs {missing}"
        if target not in MAKE_RUN_ELSEWHERE:
            assert target == "build", f"{command}: say in MAKE_RUN_ELSEWHERE which test runs it"


def _aws_operation(service: str, operation: str) -> Any:
    model = botocore.session.get_session().get_service_model(service)
    by_name = {xform_name(name, "-"): name for name in model.operation_names}
    assert operation in by_name, f"aws {service} has no {operation}"
    return model.operation_model(by_name[operation])


def _aws_options(words: tuple[str, ...]) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    current = ""
    for word in words:
        if word.startswith("--"):
            current = word
            options[current] = []
        else:
            assert current, f"a value {word!r} before any option"
            options[current].append(word)
    return options


@pytest.mark.parametrize("command", of("aws"), ids=str)
def test_each_aws_command_is_an_operation_with_its_parameters(command: Command) -> None:
    # aws <service> <operation> [--option value ...], checked against botocore's model of it
    assert len(command.argv) >= 3, command
    operation = _aws_operation(command.argv[1], command.argv[2])
    shape = operation.input_shape
    members = {xform_name(name, "-"): name for name in (shape.members if shape else {})}
    options = _aws_options(command.argv[3:])
    unknown = [
        o for o in options if o.removeprefix("--") not in members and o not in AWS_GLOBAL_OPTIONS
    ]
    assert not unknown, f"{command}: {operation.name} takes no {unknown}"
    required = [xform_name(n, "-") for n in (shape.required_members if shape else [])]
    missing = [name for name in required if f"--{name}" not in options]
    assert not missing, f"{command}: {operation.name} needs --{missing}"
    for values in options.values():
        if values and values[0].lstrip().startswith(("{", "[")):
            json.loads(" ".join(values))  # a JSON argument that parses


def test_the_documented_wheel_is_the_one_make_build_writes() -> None:
    name = wheel.wheel_name(wheel.project_table(ROOT))
    installs = [c for c in COMMANDS if c.argv[:2] == ("pipx", "install")]
    assert installs
    for command in installs:
        assert command.argv[2] == f"build/dist/{name}[cli]", command


def test_a_new_program_or_a_pipeline_in_a_doc_is_caught(tmp_path: Path) -> None:
    (tmp_path / "page.md").write_text(
        "Text.\n\n  ```sh\n  curl -s https://example.com \\\n    -o out.json  # fetch\n"
        "  make build\n  ```\n\n```\n$ hubrelay --help\nusage: hubrelay\n```\n"
        "\n```\nhubrelay validate x.json\n```\n\n```\nnot a command\n```\n"
    )
    found = commands(("page.md",), root=tmp_path)
    assert [(c.line, c.argv) for c in found] == [
        (4, ("curl", "-s", "https://example.com", "-o", "out.json")),
        (6, ("make", "build")),
        (10, ("hubrelay", "--help")),
        (15, ("hubrelay", "validate", "x.json")),
    ]
    assert uncovered(found) == ["page.md:4: curl -s https://example.com -o out.json # fetch"]
    with pytest.raises(AssertionError, match="one command per line"):
        _command("page.md", 3, "hubrelay convert x.json | jq .")
