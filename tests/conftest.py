"""Shared fixtures: a valid finding to break, fake AWS credentials for moto, and stacks on
the emulator (the helpers behind them are in tests/support.py)."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from hubrelay_emulator.runner import StackEmulator

# Powertools reads these when hubrelay.observability is first imported, which may happen
# while pytest collects a test module, before any fixture runs. Hence also the imports of
# hubrelay's code inside the fixtures below: this module is imported before any test's.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "hubrelay")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "hubrelay-test")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture
def finding() -> dict[str, Any]:
    """A complete, valid finding (a fresh copy per test)."""
    from tests.support import load_fixture

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


@pytest.fixture(autouse=True)
def _log_as_in_lambda() -> Iterator[None]:
    # A `hubrelay` command moves the log to stderr and raises its level
    # (observability.log_for_the_command_line); the tests after it expect Lambda's log.
    from hubrelay import observability

    level = observability.logger.log_level
    yield
    observability._handler.to_stderr = False
    observability.logger.setLevel(level)


@pytest.fixture
def make_stack() -> Iterator[Callable[..., StackEmulator]]:
    """Bring template.yaml (or another template) up on the emulator with parameter
    overrides, the sample accounts subscribed to the demo product; all brought down after."""
    from hubrelay_emulator import securityhub as hub
    from hubrelay_emulator.demo import PARTNER_PRODUCT
    from tests.support import start_stack

    stacks: list[StackEmulator] = []

    def make(*template: Any, **parameters: Any) -> StackEmulator:
        stack = start_stack(PARTNER_PRODUCT, *template, **parameters)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.down()
    hub.uninstall()
