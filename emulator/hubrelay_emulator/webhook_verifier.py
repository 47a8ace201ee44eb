"""The receivers' reference verifier (examples/webhook-receivers/verify_webhook.py), loaded
by the demo and the tests, so hubrelay's signatures are checked exactly as the sample that
receivers copy checks them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webhook-receivers"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location(
        "hubrelay_verify_webhook_sample", SAMPLE / "verify_webhook.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sample = _load()
verify = sample.verify
