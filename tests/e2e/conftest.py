"""End-to-end fixtures: the real template.yaml brought up by the local runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hubrelay_emulator import samples
from hubrelay_emulator import securityhub as hub
from hubrelay_emulator.demo import PARTNER_PRODUCT
from hubrelay_emulator.runner import StackEmulator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_stack() -> Iterator[Callable[..., StackEmulator]]:
    """Bring a stack up with parameter overrides; subscribed sample accounts ready."""
    stacks: list[StackEmulator] = []

    def make(template: Path = ROOT / "template.yaml", **parameters: Any) -> StackEmulator:
        params = {"ProductArn": PARTNER_PRODUCT, **{k: str(v) for k, v in parameters.items()}}
        stack = StackEmulator(template, params).up()
        stacks.append(stack)
        for account in samples.SUBSCRIBED:
            hub.enable_hub(account, stack.region)
            stack.client("securityhub", account=account).enable_import_findings_for_product(
                ProductArn=params["ProductArn"]
            )
        return stack

    yield make
    for stack in stacks:
        stack.down()
    hub.uninstall()
