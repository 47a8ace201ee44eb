"""The X-Ray SDK is loaded only when Powertools' Tracer would trace (a cold start's cost)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubrelay.observability import tracing_on

ROOT = Path(__file__).resolve().parents[2]
IMPORT_HANDLER = (
    "import sys\nsys.path[:0] = sys.argv[1:]\nimport app\nprint('aws_xray_sdk' in sys.modules)\n"
)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({}, False),  # outside Lambda Powertools never traces
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
    ],
)
def test_tracing_is_on_only_where_powertools_would_trace(environ, expected):
    assert tracing_on(environ) is expected


def _xray_loaded(function: str, **environ: str) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS", "LAMBDA_TASK"))}
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", **environ})
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            IMPORT_HANDLER,
            str(ROOT / "functions" / function),
            str(ROOT / "layers" / "hubrelay" / "python"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    return done.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize("function", ["importer", "collector", "responder"])
def test_a_handler_with_tracing_off_never_imports_the_xray_sdk(function):
    assert not _xray_loaded(function, POWERTOOLS_TRACE_DISABLED="true")


def test_a_handler_with_tracing_on_gets_the_tracer():
    assert _xray_loaded("importer", LAMBDA_TASK_ROOT="/var/task")
