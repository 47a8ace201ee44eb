"""End-to-end fixtures: the real template.yaml brought up by the local runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hubrelay_local import samples
from hubrelay_local import securityhub as hub
from hubrelay_local.demo import PARTNER_PRODUCT
from hubrelay_local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_stack() -> Iterator[Callable[..., LocalStack]]:
    """Bring a stack up with parameter overrides; subscribed sample accounts ready."""
    stacks: list[LocalStack] = []

    def make(template: Path = ROOT / "template.yaml", **parameters: Any) -> LocalStack:
        params = {"ProductArn": PARTNER_PRODUCT, **{k: str(v) for k, v in parameters.items()}}
        stack = LocalStack(template, params).up()
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
