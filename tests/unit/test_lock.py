"""uv.lock, devtools/uv-bootstrap.txt and template.yaml's Powertools layer are kept in step
with the pins of pyproject.toml (devtools/hubrelay_devtools/lock.py)."""

from __future__ import annotations

import copy
import dataclasses
import re
import subprocess
import sys
from typing import Any

import pytest

from hubrelay_devtools import lock

SOURCES = lock.Sources.read()


def _with(**changes: Any) -> lock.Sources:
    return dataclasses.replace(SOURCES, **changes)


def _pyproject_pinning(extra: str, index: int, requirement: str) -> dict[str, Any]:
    pyproject = copy.deepcopy(dict(SOURCES.pyproject))
    pyproject["project"]["optional-dependencies"][extra][index] = requirement
    return pyproject


def test_the_lock_the_bootstrap_and_the_template_agree_with_pyproject() -> None:
    assert lock.problems(SOURCES) == []


def test_the_lock_holds_the_pinned_versions_of_both_conflicting_extras() -> None:
    held = lock.versions(SOURCES.lock)
    assert held["aws-lambda-powertools"] == {"3.37.0"}
    assert "3.3.30" in held["checkov"]
    # checkov's own boto3 beside ours: the conflict is locked, not papered over
    assert "1.44.5" in held["boto3"]
    assert len(held["boto3"]) == 2


def test_a_pin_changed_without_make_lock_is_reported() -> None:
    dev = SOURCES.pyproject["project"]["optional-dependencies"]["dev"]
    index = next(i for i, pin in enumerate(dev) if pin.startswith("pytest=="))
    sources = _with(pyproject=_pyproject_pinning("dev", index, "pytest==9.1.0"))
    found = lock.problems(sources)
    assert found == [
        "pyproject.toml pins pytest==9.1.0 (dev), uv.lock was made for 9.2.0: run `make lock`",
        "uv.lock holds pytest ['9.2.0'], not the pinned 9.1.0",
    ]


def test_a_new_pin_and_a_dropped_pin_are_reported() -> None:
    pyproject = copy.deepcopy(dict(SOURCES.pyproject))
    pyproject["project"]["optional-dependencies"]["scan"] = ["requests==2.0.0"]
    found = lock.problems(_with(pyproject=pyproject))
    assert "uv.lock pins checkov (scan), pyproject.toml no longer does: run `make lock`" in found
    assert any(line.startswith("pyproject.toml pins requests==2.0.0 (scan)") for line in found)


def test_an_unpinned_requirement_is_refused() -> None:
    project = {"name": "hubrelay", "optional-dependencies": {"dev": ["ruff>=0.17"]}}
    with pytest.raises(ValueError, match=re.escape("'ruff>=0.17' is not pinned as name==version")):
        lock.pins({"project": project})


def test_a_locked_package_without_hashes_is_reported() -> None:
    locked = copy.deepcopy(dict(SOURCES.lock))
    package = next(p for p in locked["package"] if p["name"] == "pytest")
    for wheel in package["wheels"]:
        del wheel["hash"]
    found = lock.problems(_with(lock=locked))
    assert len(found) == 1
    assert found[0].startswith("pytest 9.2.0: https://")
    assert found[0].endswith("has no sha256")


def test_a_locked_package_from_outside_an_index_is_reported() -> None:
    locked = copy.deepcopy(dict(SOURCES.lock))
    package = next(p for p in locked["package"] if p["name"] == "ruff")
    package["source"] = {"git": "https://example.com/ruff.git"}
    assert any("ruff 0.17.5: source" in line for line in lock.problems(_with(lock=locked)))


def test_the_template_powertools_layer_must_be_the_locked_version() -> None:
    template = copy.deepcopy(dict(SOURCES.template))
    parameter = template["Parameters"]["PowertoolsLayerArn"]
    parameter["Default"] = "/aws/service/powertools/python/x86_64/python3.13/3.36.0"
    assert lock.problems(_with(template=template)) == [
        "template.yaml PowertoolsLayerArn defaults to "
        "/aws/service/powertools/python/x86_64/python3.13/3.36.0, "
        "the lock has aws-lambda-powertools 3.37.0"
    ]
    parameter["Default"] = "/aws/service/powertools/python/x86_64/python3.13/3.37.0"
    parameter["Description"] = "tested against aws-lambda-powertools 3.36.0"
    assert lock.problems(_with(template=template)) == [
        "template.yaml PowertoolsLayerArn's description names another version"
    ]


def test_the_uv_bootstrap_is_hashed_and_at_the_required_version() -> None:
    required = SOURCES.pyproject["tool"]["uv"]["required-version"]
    assert (
        lock.bootstrap_problems(SOURCES.pyproject, f"uv{required} \\\n  --hash=sha256:ab\n") == []
    )
    assert lock.bootstrap_problems(SOURCES.pyproject, f"uv{required}\n") == [
        f"devtools/uv-bootstrap.txt: uv{required} has no --hash"
    ]
    assert lock.bootstrap_problems(SOURCES.pyproject, "uv==0.1.0 --hash=sha256:ab\n") == [
        f"devtools/uv-bootstrap.txt installs ['uv==0.1.0'], tool.uv.required-version is {required}"
    ]


def test_make_installs_only_from_the_lock() -> None:
    makefile = (lock.ROOT / "Makefile").read_text(encoding="utf-8")
    assert "SYNC := $(UV) sync --frozen " in makefile
    venv = makefile.split("\n$(STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "uv.lock" in venv.splitlines()[0], ".venv is rebuilt when the lock changes"
    assert "pip install" not in venv
    bootstrap = makefile.split("\n$(UV):", 1)[1].split("\n\n", 1)[0]
    assert "--require-hashes" in bootstrap


def _python_check() -> str:
    makefile = (lock.ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n\t", " ")
    return makefile.split("\nPYTHON_CHECK := ", 1)[1].split("\n", 1)[0]


@pytest.mark.parametrize("version", [(3, 10, 4, "final", 0), (2, 7, 18, "final", 0)])
def test_make_says_in_one_line_that_the_python_is_too_old(version: tuple[Any, ...]) -> None:
    pretend = f"import sys; sys.version_info = {version!r}; "
    done = subprocess.run(
        [sys.executable, "-c", pretend + _python_check()], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr == (
        f"hubrelay needs Python 3.11+, {sys.executable} is {version[0]}.{version[1]}: "
        "run make PYTHON=python3.11 (or newer)\n"
    )


def test_make_goes_on_with_this_python() -> None:
    done = subprocess.run([sys.executable, "-c", _python_check()], capture_output=True)
    assert (done.returncode, done.stderr) == (0, b"")
