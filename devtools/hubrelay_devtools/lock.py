"""Whether uv.lock still is the lock of pyproject.toml's pins (a unit test runs `problems`).

The pins live in one place, the extras of pyproject.toml; uv.lock (written by `make lock`)
adds every transitive dependency with its hashes, and `make venv` installs from it with
`uv sync --frozen`, which does not look at pyproject.toml. So a pin changed without
`make lock` would go unnoticed: these checks catch it, along with a locked package without
hashes, a uv bootstrap at another version than tool.uv's required-version, and a
template.yaml whose Powertools layer is not the aws-lambda-powertools the tests run.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubrelay_release import ROOT, TEMPLATE_NAME, decode_template

BOOTSTRAP = Path("devtools") / "uv-bootstrap.txt"
POWERTOOLS = "aws-lambda-powertools"
POWERTOOLS_PARAMETER = "PowertoolsLayerArn"


@dataclass(frozen=True)
class Sources:
    pyproject: Mapping[str, Any]
    lock: Mapping[str, Any]
    template: Mapping[str, Any]
    bootstrap: str

    @classmethod
    def read(cls, root: Path = ROOT) -> Sources:
        return cls(
            pyproject=tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")),
            lock=tomllib.loads((root / "uv.lock").read_text(encoding="utf-8")),
            template=decode_template((root / TEMPLATE_NAME).read_text(encoding="utf-8")),
            bootstrap=(root / BOOTSTRAP).read_text(encoding="utf-8"),
        )


def normalized(name: str) -> str:
    """A distribution name as the lock spells it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(pyproject: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(extra, name) -> pinned version of every requirement of pyproject's extras.

    An extra may include another one of the project's own (``hubrelay[cli]``), unpinned.
    """
    found: dict[tuple[str, str], str] = {}
    project = re.escape(pyproject["project"]["name"])
    for extra, requirements in pyproject["project"]["optional-dependencies"].items():
        for requirement in requirements:
            if re.fullmatch(rf"{project}\[[a-z0-9,-]+\]", requirement):
                continue
            match = re.fullmatch(r"([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^\s;,]+)", requirement)
            if match is None:
                raise ValueError(f"{extra}: {requirement!r} is not pinned as name==version")
            found[(extra, normalized(match[1]))] = match[3]
    return found


def _project(lock: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    for package in lock.get("package", []):
        if package["name"] == name and "editable" in package.get("source", {}):
            return dict(package)
    raise ValueError(f"uv.lock has no entry for the project {name}")


def locked_pins(lock: Mapping[str, Any], name: str) -> dict[tuple[str, str], str]:
    """(extra, name) -> version as the lock recorded the project's requirements."""
    found: dict[tuple[str, str], str] = {}
    for requirement in _project(lock, name).get("metadata", {}).get("requires-dist", []):
        if normalized(requirement["name"]) == name:
            continue  # one of the project's extras including another
        extra = re.search(r"extra == '([^']+)'", requirement.get("marker", ""))
        specifier = str(requirement.get("specifier", ""))
        key = (extra[1] if extra else "", normalized(requirement["name"]))
        found[key] = specifier.removeprefix("==")
    return found


def versions(lock: Mapping[str, Any]) -> dict[str, set[str]]:
    """name -> the versions the lock holds (two where the extras conflict)."""
    held: dict[str, set[str]] = {}
    for package in lock.get("package", []):
        held.setdefault(package["name"], set()).add(str(package["version"]))
    return held


def unhashed(lock: Mapping[str, Any]) -> list[str]:
    """Locked distributions (sdists and wheels) without a sha256, and non-registry sources."""
    found = []
    for package in lock.get("package", []):
        label = f"{package['name']} {package['version']}"
        source = package.get("source", {})
        if "editable" in source:
            continue
        if "registry" not in source:
            found.append(f"{label}: source {source} is not a package index")
        files = [package["sdist"]] if "sdist" in package else []
        files += package.get("wheels", [])
        if not files:
            found.append(f"{label}: no distribution files")
        found += [
            f"{label}: {file.get('url', file)} has no sha256"
            for file in files
            if not str(file.get("hash", "")).startswith("sha256:")
        ]
    return found


def bootstrap_problems(pyproject: Mapping[str, Any], bootstrap: str) -> list[str]:
    required = str(pyproject["tool"]["uv"]["required-version"])
    text = bootstrap.replace("\\\n", " ")
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    requirements = [line for line in lines if line]
    problems = [
        f"{BOOTSTRAP}: {line.split()[0]} has no --hash"
        for line in requirements
        if "--hash=sha256:" not in line
    ]
    names = [line.split()[0] for line in requirements]
    if names != [f"uv{required}"]:
        problems.append(f"{BOOTSTRAP} installs {names}, tool.uv.required-version is {required}")
    return problems


def powertools_problems(template: Mapping[str, Any], version: str) -> list[str]:
    parameter = template["Parameters"][POWERTOOLS_PARAMETER]
    default = str(parameter["Default"])
    problems = []
    if default.rsplit("/", 1)[-1] != version:
        problems.append(
            f"template.yaml {POWERTOOLS_PARAMETER} defaults to {default}, "
            f"the lock has {POWERTOOLS} {version}"
        )
    if f"{POWERTOOLS} {version}" not in " ".join(str(parameter.get("Description", "")).split()):
        problems.append(f"template.yaml {POWERTOOLS_PARAMETER}'s description names another version")
    return problems


def problems(sources: Sources) -> list[str]:
    """Each way uv.lock, the bootstrap and the template are out of step with pyproject.toml.

    Empty when they agree. Run `make lock` after changing a pin.
    """
    name = normalized(sources.pyproject["project"]["name"])
    wanted, recorded = pins(sources.pyproject), locked_pins(sources.lock, name)
    found = [
        f"pyproject.toml pins {pin}=={version} ({extra}), uv.lock was made for "
        f"{recorded.get((extra, pin), 'no such pin')}: run `make lock`"
        for (extra, pin), version in sorted(wanted.items())
        if recorded.get((extra, pin)) != version
    ]
    found += [
        f"uv.lock pins {pin} ({extra}), pyproject.toml no longer does: run `make lock`"
        for extra, pin in sorted(set(recorded) - set(wanted))
    ]
    held = versions(sources.lock)
    found += [
        f"uv.lock holds {pin} {sorted(held.get(pin, set()))}, not the pinned {version}"
        for (_, pin), version in sorted(wanted.items())
        if version not in held.get(pin, set())
    ]
    if sources.lock.get("requires-python") != sources.pyproject["project"]["requires-python"]:
        found.append("uv.lock was made for another requires-python: run `make lock`")
    found += unhashed(sources.lock)
    found += bootstrap_problems(sources.pyproject, sources.bootstrap)
    powertools = {version for (_, pin), version in wanted.items() if pin == POWERTOOLS}
    if len(powertools) != 1:
        found.append(f"pyproject.toml must pin {POWERTOOLS} at one version, not {powertools}")
    else:
        found += powertools_problems(sources.template, powertools.pop())
    return found
