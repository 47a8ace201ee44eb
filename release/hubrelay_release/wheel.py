"""The hubrelay wheel that `make build` writes beside the zips: build/dist/<name>.whl.

It holds the `hubrelay` package with exactly the sources of the layer zip (the same filter;
no bytecode, which an installer compiles for its own Python) and the `hubrelay` command,
installed with ``pipx install '<wheel>[cli]'``. The package declares no dependencies, as in
Lambda (the runtime brings boto3, the public Powertools layer the rest): the command's own
are the `cli` extra of pyproject.toml, pinned there as everything is. setuptools'
distribution in pyproject.toml spans the four packages of the tree for the editable install,
and release, devtools and the emulator never ship, so the wheel is written here from
pyproject.toml's project table, as reproducible as the zips, after the binary distribution
format: https://packaging.python.org/en/latest/specifications/binary-distribution-format/
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hubrelay_release.base import ROOT, ReleaseError
from hubrelay_release.zips import Artifact, source_files, write_artifact, zip_contents

PACKAGE = "hubrelay"
PACKAGE_FOLDER = Path("layers") / "hubrelay" / "python" / PACKAGE
EXTRA = "cli"
TAG = "py3-none-any"  # pure Python, any 3.x the project's requires-python admits
DIST_FOLDER = "dist"


def project_table(root: Path = ROOT) -> dict[str, Any]:
    with (root / "pyproject.toml").open("rb") as handle:
        return dict(tomllib.load(handle)["project"])


def wheel_name(project: Mapping[str, Any]) -> str:
    """<name>-<version>-py3-none-any.whl, the name normalized as the format requires."""
    name = re.sub(r"[-_.]+", "_", str(project["name"])).lower()
    return f"{name}-{project['version']}-{TAG}.whl"


def metadata(project: Mapping[str, Any]) -> str:
    """METADATA (core metadata 2.1): https://packaging.python.org/en/latest/specifications/core-metadata/"""
    if project.get("dependencies"):
        raise ReleaseError("the hubrelay package declares no dependencies; use the cli extra")
    extra = project.get("optional-dependencies", {}).get(EXTRA)
    if not extra:
        raise ReleaseError(f"pyproject.toml has no {EXTRA} extra for the hubrelay command")
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project['description']}",
        f"Requires-Python: {project['requires-python']}",
        f"Provides-Extra: {EXTRA}",
    ]
    lines += [f'Requires-Dist: {requirement}; extra == "{EXTRA}"' for requirement in extra]
    return "\n".join(lines) + "\n"


def entry_points(project: Mapping[str, Any]) -> str:
    scripts = project.get("scripts", {})
    if not scripts:
        raise ReleaseError("pyproject.toml declares no [project.scripts]: the wheel needs one")
    lines = ["[console_scripts]"] + [f"{name} = {target}" for name, target in scripts.items()]
    return "\n".join(lines) + "\n"


def wheel_file(generator: str) -> str:
    fields = ["Wheel-Version: 1.0", f"Generator: {generator}", "Root-Is-Purelib: true"]
    return "\n".join([*fields, f"Tag: {TAG}"]) + "\n"


def record(entries: Iterable[tuple[str, bytes]], record_name: str) -> str:
    """RECORD: each file's urlsafe base64 SHA-256 (no padding) and size, RECORD itself last."""
    lines = []
    for name, data in entries:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        lines.append(f"{name},sha256={digest.decode()},{len(data)}")
    return "\n".join([*lines, f"{record_name},,"]) + "\n"


def wheel_contents(root: Path = ROOT) -> tuple[str, list[tuple[str, bytes]]]:
    """The wheel's file name and its (name, content) entries, in the order they are zipped."""
    project = project_table(root)
    folder = root / PACKAGE_FOLDER
    if not (folder / "__init__.py").is_file():
        raise ReleaseError(f"{folder} is not the hubrelay package")
    entries = [(name, path.read_bytes()) for name, path in source_files(folder, under=PACKAGE)]
    name = wheel_name(project)
    dist_info = f"{name.split('-')[0]}-{project['version']}.dist-info"
    generator = "hubrelay_release (release/hubrelay_release/wheel.py)"
    entries += [
        (f"{dist_info}/METADATA", metadata(project).encode()),
        (f"{dist_info}/WHEEL", wheel_file(generator).encode()),
        (f"{dist_info}/entry_points.txt", entry_points(project).encode()),
    ]
    record_name = f"{dist_info}/RECORD"
    entries.append((record_name, record(entries, record_name).encode()))
    return name, entries


def build_wheel(root: Path = ROOT, out: Path | None = None) -> Artifact:
    """Write build/dist/<wheel> (replacing the folder's older wheels) and describe it."""
    out = out if out is not None else root / "build"
    shutil.rmtree(out / DIST_FOLDER, ignore_errors=True)
    name, entries = wheel_contents(root)
    data, count = zip_contents(entries)
    return write_artifact(f"{DIST_FOLDER}/{name}", data, count, out)
