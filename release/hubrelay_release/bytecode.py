"""Bytecode in the zips: every shipped module compiled by the Python the functions run on.

A zip without bytecode makes Lambda compile the function's and the layer's modules from
source on every cold start (25 to 45 ms of CPU for each function, about 40 of the
collector's), since a function can write nothing beside them (its one writable directory
is /tmp:
https://docs.aws.amazon.com/whitepapers/latest/security-overview-aws-lambda/lambda-isolation-technologies.html),
so Python cannot keep what it compiled. Each `name.py` of a zip gets
`__pycache__/name.<tag>.pyc` (PEP 3147, https://peps.python.org/pep-3147/), compiled by an
interpreter of the template's runtime (CPython 3.13: only that version loads it), as
hash-checked bytecode (PEP 552, https://peps.python.org/pep-0552/): Python takes it when
its recorded hash is the source's, whatever the zip's dates (1980-01-01, which an
mtime-checked file would not match), and compiles the source as before when it is not (a
module edited in the Lambda console). The files are the same bytes from build to build: a
clean environment (no PYTHONOPTIMIZE, which would drop asserts and docstrings), a fixed
hash seed (marshal sorts set constants since 3.11, not before: a guard for a runtime that
old) and each module's path as Lambda places it (/var/task for a function,
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime;
/opt for a layer, https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html)
rather than the checkout's. Two builds give the same bytes with the same release of that
Python (a bug-fix release may compile differently); the artifact line names it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hubrelay_release.base import ROOT, ReleaseError

FUNCTION_ROOT = "/var/task"  # LAMBDA_TASK_ROOT: where a function's zip is extracted
LAYER_ROOT = "/opt"  # where a layer's zip is extracted (its python/ is on sys.path)
_RUNTIME = re.compile(r"python(3\.\d+)")
_ABOUT = (
    "import sys\n"
    "print('%d.%d' % sys.version_info[:2], sys.version.split()[0], sys.implementation.cache_tag)"
)
_COMPILE = (
    "import json, py_compile, sys\n"
    "for source, dfile, cfile in json.load(sys.stdin):\n"
    "    try:\n"
    "        py_compile.compile(source, cfile=cfile, dfile=dfile, doraise=True,\n"
    "            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)\n"
    "    except py_compile.PyCompileError as error:\n"
    # The checkout's file and line, on one line (the error names the Lambda path).
    "        where = getattr(error.exc_value, 'lineno', None)\n"
    "        line = f', line {where}' if where else ''\n"
    "        sys.exit(f'{source}{line}: {error.exc_type_name}: {error.exc_value.args[0]}')\n"
)


@dataclass(frozen=True)
class Compiler:
    """An interpreter that writes the zips' bytecode."""

    python: str  # the interpreter's path
    version: str  # its minor version, as a runtime names it: 3.13
    release: str  # its exact release, which the bytecode's bytes depend on: 3.13.0
    cache_tag: str  # the tag of its bytecode files: cpython-313

    @classmethod
    def of(cls, python: str) -> Compiler | None:
        """The interpreter at `python`, or None when it does not run."""
        try:
            # The interpreter the release's operator named, or found on their PATH.
            done = subprocess.run(  # noqa: S603
                [python, "-c", _ABOUT], capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        fields = done.stdout.split()
        if done.returncode != 0 or len(fields) != 3:
            return None
        return cls(python, *fields)


def runtime_version(template: Mapping[str, Any]) -> str:
    """The Python version every function of the template runs on (Runtime: python3.13)."""
    runtimes = {
        str(resource.get("Properties", {}).get("Runtime", ""))
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == "AWS::Lambda::Function"
    }
    versions = {m.group(1) for r in runtimes if (m := _RUNTIME.fullmatch(r))}
    if len(versions) != 1 or len(runtimes) != 1:
        raise ReleaseError(
            f"template.yaml's functions run {', '.join(sorted(runtimes)) or 'no runtime'}: "
            "one pythonX.Y for all of them is what the zips' bytecode is compiled for"
        )
    return versions.pop()


def find_compiler(version: str, python: str | None = None) -> Compiler | None:
    """The interpreter to compile with: `python` if given (refused unless it is `version`),
    else the first of python<version> on PATH and uv's (`uv python find`); None if none."""
    if python is not None:
        found = Compiler.of(python)
        if found is None or found.version != version or not _cpython(found):
            what = "no Python 3" if found is None else f"Python {found.version}"
            if found is not None and not _cpython(found):
                what += f" of another implementation (bytecode {found.cache_tag})"
            raise ReleaseError(
                f"{python} is {what}; the functions run python{version} (template.yaml "
                "Runtime), which loads only bytecode of its own version"
            )
        return found
    for candidate in _candidates(version):
        found = Compiler.of(candidate)
        if found is not None and found.version == version and _cpython(found):
            return found
    return None


def _cpython(compiler: Compiler) -> bool:
    # Lambda's runtimes are CPython: they load only cpython-3XX bytecode (PyPy's is pypy3XX).
    return compiler.cache_tag == f"cpython-{compiler.version.replace('.', '')}"


def _candidates(version: str) -> Iterable[str]:
    on_path = shutil.which(f"python{version}")
    if on_path:
        yield on_path
    uv = shutil.which("uv") or _repository_uv()
    if uv:
        try:
            done = subprocess.run(  # noqa: S603  # uv on PATH or the Makefile's
                [uv, "python", "find", "--no-project", version],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return
        if done.returncode == 0 and done.stdout.strip():
            yield done.stdout.strip()


def _repository_uv() -> str | None:
    uv = ROOT / ".uv" / "bin" / "uv"  # the Makefile's own (make venv installs it there)
    return str(uv) if uv.is_file() else None


def with_bytecode(
    entries: Sequence[tuple[str, Path]], compiler: Compiler, extracted_at: str
) -> list[tuple[str, bytes]]:
    """(name, content) of the entries and of the bytecode of each module among them, sorted
    by name; `extracted_at` is where Lambda extracts the zip (FUNCTION_ROOT, LAYER_ROOT)."""
    contents = [(name, path.read_bytes()) for name, path in entries]
    modules = [(name, path) for name, path in entries if name.endswith(".py")]
    with tempfile.TemporaryDirectory(prefix="hubrelay-bytecode-") as scratch:
        jobs = [
            (str(path), str(PurePosixPath(extracted_at) / name), os.path.join(scratch, f"{i}.pyc"))
            for i, (name, path) in enumerate(modules)
        ]
        _compile(compiler, jobs)
        for (name, _), (_, _, cfile) in zip(modules, jobs, strict=True):
            contents.append((_cached_name(name, compiler.cache_tag), Path(cfile).read_bytes()))
    return sorted(contents, key=lambda pair: pair[0])


def _cached_name(name: str, cache_tag: str) -> str:
    module = PurePosixPath(name)
    return str(module.parent / "__pycache__" / f"{module.stem}.{cache_tag}.pyc")


def _compile(compiler: Compiler, jobs: list[tuple[str, str, str]]) -> None:
    # A clean environment but for the hash seed: nothing of the caller's PYTHON* settings
    # (PYTHONOPTIMIZE would drop the asserts and docstrings from what ships).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    what = f"Python {compiler.release} ({compiler.python}) could not compile the modules"
    try:
        done = subprocess.run(  # noqa: S603  # an interpreter Compiler.of has run
            [compiler.python, "-s", "-c", _COMPILE],
            input=json.dumps(jobs),
            capture_output=True,
            text=True,
            env=env,
            # Not the caller's folder: `-c` puts the working directory first on sys.path.
            cwd=os.path.dirname(jobs[0][2]) if jobs else None,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:  # gone, or over 10 minutes
        raise ReleaseError(f"{what}: {type(error).__name__}: {error}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise ReleaseError(f"{what}: {last}")


def _not_found(version: str) -> str:
    return f"no Python {version} found (python{version} on PATH, `uv python find {version}`)"


_COLD_START_COST = "every cold start compiles hubrelay's modules (about 40 ms of the collector's)"


def publish_refusal(version: str) -> str:
    """Why `publish` without a compiler stops: the release is what customers deploy."""
    return (
        f"{_not_found(version)} to compile the bytecode of the release customers deploy: "
        f"without it {_COLD_START_COST}. Install it (`uv python install {version}`) or name "
        f"it (BYTECODE_PYTHON=PATH, --python PATH); ALLOW_WITHOUT_BYTECODE=1 "
        f"(--allow-without-bytecode) publishes without it."
    )


def missing_compiler_notice(version: str) -> str:
    """What a build without a compiler says (on stderr): it goes on, without bytecode."""
    return (
        f"WARNING: {_not_found(version)}: the zips carry no bytecode, so {_COLD_START_COST}. "
        f"Install it (`uv python install {version}`) or name it: make ... "
        f"BYTECODE_PYTHON=PATH (--python PATH)."
    )
