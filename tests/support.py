"""What the tests share: the fixture files, handlers loaded as Lambda loads them, Lambda's
context object and SQS events, and stacks on the emulator with subscribed accounts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from hubrelay_emulator import samples
from hubrelay_emulator import securityhub as hub
from hubrelay_emulator.lambda_runtime import LambdaContext, load_source, sqs_event, sqs_record
from hubrelay_emulator.runner import StackEmulator

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
TEMPLATE = ROOT / "template.yaml"
# The top-level ASFF fields a finding must always carry. Severity is required too, but
# FindingProviderFields.Severity can stand in for it where a finding is built.
REQUIRED_FIELDS = (
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "CreatedAt",
    "UpdatedAt",
    "Title",
    "Description",
    "Resources",
)

__all__ = [
    "FIXTURES",
    "REQUIRED_FIELDS",
    "ROOT",
    "TEMPLATE",
    "LambdaContext",
    "load_fixture",
    "load_handler",
    "sqs_event",
    "sqs_record",
    "start_stack",
]


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def load_handler(function: str) -> ModuleType:
    """functions/<function>/app.py as a new module: it reads the environment (settings,
    Powertools) at import, so each test gets one made from its own environment."""
    path = ROOT / "functions" / function / "app.py"
    return load_source(path, f"{function}_app_{uuid.uuid4().hex}")


def start_stack(product: str, template: Path = TEMPLATE, **parameters: Any) -> StackEmulator:
    """template.yaml on the emulator, for `product`, the sample accounts subscribed to it."""
    params = {"ProductArn": product, **{k: str(v) for k, v in parameters.items()}}
    stack = StackEmulator(template, params).up()
    hub.subscribe(samples.SUBSCRIBED, stack.region, params["ProductArn"], stack.endpoint)
    return stack


def nested(depth: int) -> list[Any]:
    """`depth` lists, each inside the one before, built without recursion (a poison value
    that once raised RecursionError)."""
    top: list[Any] = []
    inner = top
    for _ in range(depth - 1):
        inner.append([])
        inner = inner[0]
    return top
