"""Import time of each handler module, next to a bare handler that only imports boto3.

Each import runs in a fresh interpreter (a cold start imports everything once), with the
layer folder on sys.path as Lambda puts it, and the environment the function gets from the
template (Powertools settings; HUBRELAY_* left at their defaults). The figure is the best
of a few runs, timed around `import app` only, so the interpreter's own start is not in it.
`python -X importtime` of one more run names the heaviest top-level imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "hubrelay" / "python"
BARE_HANDLER = "import boto3\n\n\ndef handler(event, context):\n    return {}\n"
_TIMED_IMPORT = (
    "import sys, time\n"
    "sys.path[:0] = sys.argv[1:]\n"
    "started = time.perf_counter()\n"
    "import app\n"
    "print(time.perf_counter() - started)\n"
)


def _env(name: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HUBRELAY_", "POWERTOOLS"))
    }
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": f"hubrelay-{name}",
            "POWERTOOLS_METRICS_NAMESPACE": "hubrelay",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONDONTWRITEBYTECODE": "",
        }
    )
    return env


def _time_import(code_dir: Path, name: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, "-c", _TIMED_IMPORT, str(code_dir), str(LAYER)],
            capture_output=True,
            text=True,
            env=_env(name),
            check=True,
            timeout=120,
        )
        best = min(best, float(done.stdout.strip().splitlines()[-1]))
    return best


def _heaviest(code_dir: Path, name: str, top: int = 4) -> list[dict[str, Any]]:
    """Where the import time goes: self time summed per top-level package (-X importtime)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _TIMED_IMPORT, str(code_dir), str(LAYER)],
        capture_output=True,
        text=True,
        env=_env(name),
        check=True,
        timeout=120,
    )
    totals: dict[str, int] = {}
    for line in done.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, _, package = line.removeprefix("import time:").split("|")
        top_level = package.strip().split(".")[0]
        if own.strip().isdigit() and not top_level.startswith("__editable__"):
            totals[top_level] = totals.get(top_level, 0) + int(own)
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    return [{"package": p, "ms": round(us / 1000, 1)} for p, us in ranked[:top]]


def run(repeat: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as bare_dir:
        Path(bare_dir, "app.py").write_text(BARE_HANDLER)
        bare = _time_import(Path(bare_dir), "bare", repeat)
    rows = []
    for code_dir in sorted((ROOT / "functions").glob("*/app.py")):
        name = code_dir.parent.name
        seconds = _time_import(code_dir.parent, name, repeat)
        rows.append(
            {
                "handler": f"functions/{name}/app.py",
                "import_ms": round(seconds * 1000, 1),
                "per_bare_boto3": round(seconds / bare, 2),
                "heaviest": _heaviest(code_dir.parent, name),
            }
        )
    return {"bare_boto3_handler_ms": round(bare * 1000, 1), "repeat": repeat, "handlers": rows}
