"""Reproducible zips of the functions and layers: what `make build` writes to build/.

Entries are sorted, dated 1980-01-01, mode 0644 and compressed at a fixed level, so the
same sources give the same bytes whatever the checkout's mtimes or umask. Caches, tests,
dotfiles and virtualenvs are left out, and a bundled boto3 or Powertools is refused (the
runtime and the public Powertools layer provide them). Given a compiler (bytecode.py),
each zip also carries its modules' bytecode for the runtime's Python, compiled at build
time, which a cold start would otherwise compile from source.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hubrelay_release.base import ROOT, ReleaseError, shown
from hubrelay_release.bytecode import FUNCTION_ROOT, LAYER_ROOT, Compiler, with_bytecode
from hubrelay_release.template import referenced_artifacts

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
FILE_MODE = 0o100644  # regular file, rw-r--r--, whatever the checkout's umask
COMPRESS_LEVEL = 9
SKIPPED_DIRS = frozenset(
    {"__pycache__", "tests", "test", "venv", "node_modules", "build", "dist"}
)  # plus any dot-directory and *.egg-info / *.dist-info
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".orig", ".rej", ".swp", "~")
SKIPPED_FILES = frozenset({"conftest.py"})
# Provided by the Lambda runtime (boto3) or the public Powertools layer: bundling a copy
# would shadow the runtime's and bloat every cold start.
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "aws_lambda_powertools", "aws_xray_sdk"}
)


@dataclass(frozen=True)
class Artifact:
    key: str  # path under the key prefix: functions/importer.zip, layers/hubrelay.zip
    path: Path
    size: int
    sha256: str
    entries: int
    # A zip's: the Python release its bytecode is compiled by, "" for none (None: a wheel)
    bytecode: str | None = None

    def line(self) -> str:
        text = (
            f"{shown(self.path):<30} {self.size:>9,} bytes {self.entries:>4} files  "
            f"sha256 {self.sha256}"
        )
        if self.bytecode is None:
            return text
        return text + (
            f"  bytecode of Python {self.bytecode}" if self.bytecode else "  no bytecode"
        )


def included(relative: PurePosixPath) -> bool:
    """Whether a file (path relative to the folder being zipped) belongs in the zip."""
    *folders, name = relative.parts
    for folder in folders:
        if folder.startswith(".") or folder in SKIPPED_DIRS:
            return False
        if folder.endswith((".egg-info", ".dist-info")):
            return False
    if name.startswith(".") or name in SKIPPED_FILES or name.endswith(SKIPPED_SUFFIXES):
        return False
    return not (name.startswith("test_") and name.endswith(".py")) and not name.endswith("_test.py")


def source_files(folder: Path, under: str = "") -> list[tuple[str, Path]]:
    """(name in the zip, file) for every file of `folder` that ships, sorted by name."""
    found: list[tuple[str, Path]] = []
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        relative = PurePosixPath(path.relative_to(folder).as_posix())
        if included(relative):
            found.append((str(PurePosixPath(under) / relative) if under else str(relative), path))
    found.sort(key=lambda pair: pair[0])
    depth = len(PurePosixPath(under).parts) if under else 0
    packages = {
        PurePosixPath(name).parts[depth]
        for name, _ in found
        if len(PurePosixPath(name).parts) > depth + 1
    }
    bundled = packages & RUNTIME_PROVIDED
    if bundled:
        raise ReleaseError(
            f"{folder} bundles {', '.join(sorted(bundled))}: boto3 comes from the Lambda "
            "runtime and Powertools from its public layer; remove the copy"
        )
    return found


def zip_bytes(entries: Iterable[tuple[str, Path]]) -> tuple[bytes, int]:
    """A reproducible zip of the entries (already sorted) and the number of entries."""
    return zip_contents((name, path.read_bytes()) for name, path in entries)


def zip_contents(entries: Iterable[tuple[str, bytes]]) -> tuple[bytes, int]:
    """A reproducible zip of (name, content) entries, in their order, and their number."""
    buffer = io.BytesIO()
    count = 0
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=COMPRESS_LEVEL)
            count += 1
    return buffer.getvalue(), count


def write_artifact(
    key: str, data: bytes, entries: int, out: Path, bytecode: str | None = None
) -> Artifact:
    target = out / key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return Artifact(key, target, len(data), hashlib.sha256(data).hexdigest(), entries, bytecode)


def _zip(
    entries: list[tuple[str, Path]], compiler: Compiler | None, extracted_at: str
) -> tuple[bytes, int]:
    if compiler is None:
        return zip_bytes(entries)
    return zip_contents(with_bytecode(entries, compiler, extracted_at))


def build(
    root: Path = ROOT, out: Path | None = None, compiler: Compiler | None = None
) -> list[Artifact]:
    """Zip every function and layer of the tree at `root` into `out` (default root/build),
    with the bytecode `compiler` writes of their modules (none without one).

    ``functions/<name>/`` becomes ``functions/<name>.zip`` (``app.py`` at the zip root) and
    ``layers/<name>/`` becomes ``layers/<name>.zip`` (holding ``python/<package>/...``).
    """
    out = out if out is not None else root / "build"
    bytecode = compiler.release if compiler else ""
    for stale in ("functions", "layers"):
        shutil.rmtree(out / stale, ignore_errors=True)
    artifacts: list[Artifact] = []
    functions = sorted(p for p in (root / "functions").glob("*/app.py"))
    if not functions:
        raise ReleaseError(f"no functions/<name>/app.py under {root}")
    for app in functions:
        data, count = _zip(source_files(app.parent), compiler, FUNCTION_ROOT)
        key = f"functions/{app.parent.name}.zip"
        artifacts.append(write_artifact(key, data, count, out, bytecode))
    for layer in sorted(p for p in (root / "layers").iterdir() if (p / "python").is_dir()):
        entries = source_files(layer / "python", under="python")
        if not entries:
            raise ReleaseError(f"layer {layer} has no files under python/")
        data, count = _zip(entries, compiler, LAYER_ROOT)
        artifacts.append(write_artifact(f"layers/{layer.name}.zip", data, count, out, bytecode))
    return artifacts


def check_artifacts(template: Mapping[str, Any], artifacts: Sequence[Artifact]) -> None:
    missing = referenced_artifacts(template) - {a.key for a in artifacts}
    if missing:
        raise ReleaseError(
            f"template.yaml reads {', '.join(sorted(missing))} but the build has no such "
            "artifact (a functions/<name>/app.py or layers/<name>/python/ folder is missing)"
        )
