"""The hubrelay wheel of `make build` (release/hubrelay_release/wheel.py): the layer's package
and the `hubrelay` command, its dependencies only as the cli extra, reproducible, and
installable into a fresh virtualenv where the command runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hubrelay_release import ReleaseError, build
from hubrelay_release import wheel as wheels
from tests.integration.test_release import copy_tree, zip_members
from tests.support import ROOT, load_fixture

UV = ROOT / ".uv" / "bin" / "uv"  # bootstrapped by `make venv` (devtools/uv-bootstrap.txt)


def _members(path: Path) -> dict[str, bytes]:
    return zip_members(path)


def test_the_wheel_holds_the_layers_package_and_nothing_else_of_the_tree(tmp_path: Path) -> None:
    artifact = wheels.build_wheel(ROOT, tmp_path)
    assert artifact.key == "dist/hubrelay-0.1.0-py3-none-any.whl"
    members = _members(artifact.path)
    layer = {
        name.removeprefix("python/"): data
        for name, data in zip_members(
            next(a for a in build(ROOT, tmp_path) if a.key == "layers/hubrelay.zip").path
        ).items()
    }
    package = {name: data for name, data in members.items() if ".dist-info/" not in name}
    assert package == layer
    assert sorted(set(members) - set(package)) == [
        "hubrelay-0.1.0.dist-info/METADATA",
        "hubrelay-0.1.0.dist-info/RECORD",
        "hubrelay-0.1.0.dist-info/WHEEL",
        "hubrelay-0.1.0.dist-info/entry_points.txt",
    ]
    assert list(members)[-1] == "hubrelay-0.1.0.dist-info/RECORD"  # last, as the format asks


def test_the_wheel_declares_its_dependencies_only_as_the_cli_extra(tmp_path: Path) -> None:
    members = _members(wheels.build_wheel(ROOT, tmp_path).path)
    requires = [
        line.removeprefix("Requires-Dist: ")
        for line in members["hubrelay-0.1.0.dist-info/METADATA"].decode().splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    assert requires
    assert all(line.endswith('; extra == "cli"') for line in requires)
    assert {line.split("==")[0] for line in requires} == {
        "boto3",
        "botocore",
        "aws-lambda-powertools[tracer,parser]",
        "pydantic",
    }
    entry_points = members["hubrelay-0.1.0.dist-info/entry_points.txt"].decode()
    assert entry_points == "[console_scripts]\nhubrelay = hubrelay.console:main\n"


def test_the_record_lists_every_file_with_its_hash_and_size(tmp_path: Path) -> None:
    members = _members(wheels.build_wheel(ROOT, tmp_path).path)
    rows = [line.split(",") for line in members["hubrelay-0.1.0.dist-info/RECORD"].decode().split()]
    assert {row[0] for row in rows} == set(members)
    for name, digest, size in rows:
        if name.endswith("RECORD"):
            assert (digest, size) == ("", "")
        else:
            assert digest.startswith("sha256=")
            assert "=" not in digest.removeprefix("sha256=")
            assert int(size) == len(members[name])


def test_wheels_are_byte_identical_whatever_the_mtimes_and_modes(tmp_path: Path) -> None:
    first = copy_tree(tmp_path / "one")
    second = copy_tree(tmp_path / "two")
    for path in second.rglob("*"):
        os.utime(path, (1_950_000_000, 1_950_000_000))
        if path.is_file():
            path.chmod(0o600)
    one = wheels.build_wheel(first, tmp_path / "out-one")
    two = wheels.build_wheel(second, tmp_path / "out-two")
    assert one.path.read_bytes() == two.path.read_bytes()
    with zipfile.ZipFile(one.path) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_a_wheel_without_the_cli_extra_or_with_dependencies_is_refused() -> None:
    project = wheels.project_table(ROOT)
    with pytest.raises(ReleaseError, match="declares no dependencies"):
        wheels.metadata({**project, "dependencies": ["boto3==1.44.5"]})
    with pytest.raises(ReleaseError, match="no cli extra"):
        wheels.metadata({**project, "optional-dependencies": {"dev": ["pytest==9.2.0"]}})


def _run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, timeout=300
    )


@pytest.mark.slow  # a virtualenv and an install (from uv's cache, or the package index)
def test_the_wheel_installs_into_a_fresh_venv_and_the_command_runs(tmp_path: Path) -> None:
    # Given the wheel of `make build` and the lock's versions of the cli extra
    assert UV.is_file(), "run `make venv` first: it installs uv into .uv/"
    wheel = wheels.build_wheel(ROOT, tmp_path / "build").path
    constraints = tmp_path / "constraints.txt"
    exported = _run(
        UV,
        "export",
        "--frozen",
        "--project",
        ROOT,
        "--extra",
        "cli",
        "--no-emit-project",
        "--no-hashes",
        "--quiet",
        "-o",
        constraints,
    )
    assert exported.returncode == 0, exported.stderr
    bare, full = tmp_path / "bare", tmp_path / "full"
    for venv, spec in ((bare, str(wheel)), (full, f"{wheel}[cli]")):
        made = _run(UV, "venv", "--quiet", "--python", sys.executable, venv)
        assert made.returncode == 0, made.stderr
        installed = _run(
            UV,
            "pip",
            "install",
            "--quiet",
            "--python",
            venv / "bin" / "python",
            "-c",
            constraints,
            spec,
        )
        assert installed.returncode == 0, installed.stderr

    # When the command runs from the venv with the cli extra
    helped = _run(full / "bin" / "hubrelay", "--help")
    findings = tmp_path / "findings.json"
    findings.write_text(json.dumps([load_fixture("findings/valid.json")]))
    validated = _run(full / "bin" / "hubrelay", "validate", findings)
    # Then it works there, outside this tree: none of release, devtools or the emulator came
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: hubrelay ")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert validated.stdout == "1 findings: 1 valid, 0 invalid\n"
    site = _run(
        full / "bin" / "python",
        "-c",
        "import importlib.util as u; print([m for m in "
        "('hubrelay_release', 'hubrelay_devtools', 'hubrelay_emulator', 'moto') "
        "if u.find_spec(m)]); import hubrelay; print(hubrelay.__file__)",
    )
    assert site.stdout.splitlines()[0] == "[]"
    assert str(full) in site.stdout.splitlines()[1]

    # And without the extra it says in one line what to install, no traceback
    bare_help = _run(bare / "bin" / "hubrelay", "--help")
    assert bare_help.returncode == 2
    assert bare_help.stdout == ""
    assert bare_help.stderr.count("\n") == 1
    assert "install the command with its cli extra" in bare_help.stderr
    assert "Traceback" not in bare_help.stderr
