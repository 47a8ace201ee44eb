"""Imports as in a Lambda function's process, for the benches that measure one
(bench/memory.py, bench/startup.py).

A function's process imports hubrelay from the release's zips as Lambda extracts them (a
function's at /var/task, the layer's at /opt), with the bytecode `make build` compiles
into them (hubrelay_release.bytecode), and the runtime's packages (boto3, botocore) and the
public Powertools layer with theirs. The zips' bytecode is the runtime's Python's
(python3.13); the benches build the same zips with their own interpreter as the compiler,
since no other Python loads it (`deployed`), and run the handlers from them. Until
2026-12-07 the zips carried no bytecode and the benches compiled hubrelay's modules from
source on every import, as Lambda then did; before that, they took whatever bytecode this
checkout's __pycache__ folders held.
"""

from __future__ import annotations

import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the Lambda runtime (boto3) and the public Powertools layer bring, with their
# bytecode: hubrelay_release.zips refuses to bundle them.
RUNTIME_PACKAGES = (
    *("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six", "certifi"),
    *("aws_lambda_powertools", "pydantic", "pydantic_core", "typing_extensions"),
)


@dataclass(frozen=True)
class Deployed:
    """The release's zips extracted below `root`, as Lambda extracts them."""

    root: Path

    def function(self, name: str) -> Path:
        """Where functions/<name>.zip is extracted (Lambda's /var/task)."""
        return self.root / "task" / name

    @property
    def layer(self) -> Path:
        """The layer's python/ folder (Lambda's /opt/python, on the function's sys.path)."""
        return self.root / "opt" / "python"


def deployed(root: Path) -> Deployed:
    """The zips of this checkout, with the bytecode this interpreter compiles of their
    modules, extracted below `root` (an empty folder)."""
    # Imported here, not at the top: the measured processes import this module for
    # `Deployed`, and the release tooling is no part of a function's memory.
    from hubrelay_release import Compiler, build

    compiler = Compiler.of(sys.executable)
    if compiler is None:  # pragma: no cover - this interpreter runs
        raise RuntimeError(f"{sys.executable} does not run")
    tree = Deployed(root)
    for artifact in build(ROOT, root / "build", compiler):
        name = Path(artifact.key).stem
        folder = tree.function(name) if artifact.key.startswith("functions/") else root / "opt"
        with zipfile.ZipFile(artifact.path) as archive:
            archive.extractall(folder)
    return tree


def compile_runtime_packages() -> None:
    """Bytecode for the runtime's packages in this environment, written where it is not
    yet (py_compile writes whatever PYTHONDONTWRITEBYTECODE says). Where it cannot be (a
    read-only environment), the figures would hold their compiling: said, not hidden."""
    import compileall
    import importlib.util

    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        done = True
        if spec is not None and spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                done = bool(compileall.compile_dir(folder, quiet=2)) and done
        elif spec is not None and spec.origin and spec.origin.endswith(".py"):
            done = bool(compileall.compile_file(spec.origin, quiet=2))
        if not done:
            print(f"bench: no bytecode could be written for {name}: its figures hold its compiling")
