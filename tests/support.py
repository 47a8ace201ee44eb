"""What the tests share: the fixture files, handlers loaded as Lambda loads them, Lambda's
context object and SQS events, stacks on the emulator with subscribed accounts, and the
template's roles as an IAM evaluator."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from cfnlint.decode import decode_str

from hubrelay_emulator import cfn, iam, samples
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
    "role_checker",
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


def role_checker(
    roles: tuple[str, ...], parameters: dict[str, str], account: str = "123456789012"
) -> iam.Checker:
    """The template's inline policies of `roles` (logical ids), resolved with `parameters`
    in `account`, as an IAM evaluator keyed by logical id. Other resources only name what
    the statements apply to, so placeholders stand in for their Ref and Arn."""
    template, _ = decode_str(TEMPLATE.read_text())
    resolver = cfn.Resolver.create(
        template,
        parameters,
        account=account,
        region="us-east-1",
        stack_name="hubrelay",
        resolve_ssm=lambda name: "",
    )
    for logical_id in template["Resources"]:
        resolver.attributes[logical_id] = {"Ref": logical_id, "Arn": f"arn:aws:x:::{logical_id}"}
    policies = {}
    for name in roles:
        role = resolver.resolve(template["Resources"][name]["Properties"])
        policies[name] = [policy["PolicyDocument"] for policy in role["Policies"]]
    return iam.Checker(policies)


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
