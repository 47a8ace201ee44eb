"""Shared fixtures: a valid finding to break, and fake AWS credentials for moto."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

# Powertools reads these when hubrelay.observability is first imported, which may happen
# while pytest collects a test module, before any fixture runs.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "hubrelay")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "hubrelay-test")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def finding() -> dict[str, Any]:
    """A complete, valid finding (a fresh copy per test)."""
    return copy.deepcopy(load_fixture("findings/valid.json"))


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # No test may reach real AWS: fake credentials, a fixed Region, no endpoint override.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "hubrelay")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "hubrelay-test")
