"""`make deploy`: create or update a stack from build/packaged.yaml with boto3.

boto3 honours AWS_ENDPOINT_URL, which is how the tests run a deploy against moto; nothing
beyond the dev dependencies is needed.
"""

from __future__ import annotations

import hashlib
import math
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from hubrelay import aws
from hubrelay.commands import common as commands
from hubrelay_release.base import TEMPLATE_NAME, ReleaseError
from hubrelay_release.buckets import bucket_name, bucket_region, check_stack_name, s3_url
from hubrelay_release.template import ARTIFACT_PARAMETERS, check_parameter, decode_template

# A stack in one of these states takes no update: CloudFormation wants it deleted first.
STUCK = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "REVIEW_IN_PROGRESS")


def parse_params(text: str | Sequence[str]) -> dict[str, str]:
    """`K=V K2="a b"` (shell quoting) or a list of K=V items -> {K: V}."""
    try:
        items = shlex.split(text) if isinstance(text, str) else list(text)
    except ValueError as exc:  # an unclosed quote
        raise ReleaseError(f"parameters {text!r}: {exc}") from exc
    try:
        return commands.parse_params(items, flag="parameter")
    except commands.CommandError as exc:
        raise ReleaseError(str(exc)) from exc


@dataclass(frozen=True)
class DeployPlan:
    """What deploying build/packaged.yaml means: the template's location and parameters."""

    stack_name: str
    region: str
    bucket: str
    template_key: str
    template_url: str
    bucket_prefix: str
    key_prefix: str
    overrides: Mapping[str, str]

    def parameters(self, kept: Iterable[str] = ()) -> list[dict[str, Any]]:
        """CloudFormation Parameters: the artifact location, the overrides, and `kept`.

        The artifact location always comes from the packaged template: that is how a new
        release reaches the functions. On an update, `kept` names the parameters whose
        previous value stays (UsePreviousValue); any other parameter takes the new
        template's default.
        """
        given = {
            "ArtifactBucketPrefix": self.bucket_prefix,
            "ArtifactKeyPrefix": self.key_prefix,
            **self.overrides,
        }
        out: list[dict[str, Any]] = [
            {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(given.items())
        ]
        out += [
            {"ParameterKey": k, "UsePreviousValue": True} for k in sorted(kept) if k not in given
        ]
        return out


def plan_deploy(
    stack_name: str,
    bucket: str,
    overrides: Mapping[str, str],
    region: str | None,
    packaged: Path,
) -> DeployPlan:
    check_stack_name(stack_name)
    if not packaged.is_file():
        raise ReleaseError(f"{packaged} does not exist: run `make package BUCKET={bucket}` first")
    template = decode_template(packaged.read_text(encoding="utf-8"))
    unknown = set(overrides) - set(template.get("Parameters", {}))
    if unknown:
        raise ReleaseError(f"the template has no parameter(s) {', '.join(sorted(unknown))}")
    for name, value in overrides.items():
        check_parameter(template, name, value)
    defaults = {n: str(template["Parameters"][n].get("Default", "")) for n in ARTIFACT_PARAMETERS}
    located = bucket_region(aws.client("s3", region), bucket)
    if region and region != located:
        raise ReleaseError(
            f"bucket {bucket} is in {located}: the stack must be deployed there, not in {region}"
        )
    bucket_prefix = overrides.get("ArtifactBucketPrefix", defaults["ArtifactBucketPrefix"])
    if bucket != bucket_name(bucket_prefix, located):
        raise ReleaseError(
            f"{packaged} reads code from {bucket_name(bucket_prefix, located)} in {located}, "
            f"not from {bucket}: package for this bucket first (make package BUCKET={bucket})"
        )
    key_prefix = overrides.get("ArtifactKeyPrefix", defaults["ArtifactKeyPrefix"])
    key = key_prefix + TEMPLATE_NAME
    return DeployPlan(
        stack_name,
        located,
        bucket,
        key,
        s3_url(bucket, located, key),
        bucket_prefix,
        key_prefix,
        {k: v for k, v in overrides.items() if k not in ARTIFACT_PARAMETERS},
    )


def deploy(
    plan: DeployPlan, packaged: Path, *, cfn: Any = None, delay: float = 15, wait: bool = True
) -> dict[str, str]:
    """Create or update the stack with boto3; the stack's outputs once it is complete."""
    data = packaged.read_bytes()
    # The template is over CloudFormation's 51,200-byte inline limit: it is read from S3.
    aws.client("s3", plan.region).put_object(
        Bucket=plan.bucket,
        Key=plan.template_key,
        Body=data,
        ContentType="application/x-yaml",
        Metadata={"sha256": hashlib.sha256(data).hexdigest()},
    )
    cfn = cfn if cfn is not None else aws.client("cloudformation", plan.region)
    existing = _stack(cfn, plan.stack_name)
    status = str(existing.get("StackStatus", "")) if existing else ""
    if status in STUCK:
        raise ReleaseError(
            f"stack {plan.stack_name} is {status} and cannot be updated: delete it "
            f"(aws cloudformation delete-stack --stack-name {plan.stack_name} --region "
            f"{plan.region}) and deploy again"
        )
    waiter_name = _submit(cfn, plan, existing, data)
    if waiter_name is None:
        print(f"stack {plan.stack_name}: no changes")
    elif wait:
        _wait(cfn, plan.stack_name, waiter_name, delay)
    return _outputs(cfn, plan.stack_name)


def _submit(
    cfn: Any, plan: DeployPlan, existing: Mapping[str, Any] | None, data: bytes
) -> str | None:
    """Create or update the stack; the waiter to wait with, or None when nothing changes."""
    request: dict[str, Any] = {
        "StackName": plan.stack_name,
        "TemplateURL": plan.template_url,
        "Capabilities": ["CAPABILITY_IAM"],
    }
    if existing is None:
        cfn.create_stack(**request, Parameters=plan.parameters())
        return "stack_create_complete"
    declared = decode_template(data.decode()).get("Parameters", {})
    try:
        cfn.update_stack(
            **request, Parameters=plan.parameters(_customised(cfn, existing, declared))
        )
    except ClientError as exc:
        if "No updates are to be performed" not in str(exc):
            raise
        return None
    return "stack_update_complete"


def _wait(cfn: Any, stack_name: str, waiter_name: str, delay: float) -> None:
    attempts = max(1, math.ceil(3600 / max(delay, 1)))
    try:
        cfn.get_waiter(waiter_name).wait(
            StackName=stack_name, WaiterConfig={"Delay": delay, "MaxAttempts": attempts}
        )
    except WaiterError as exc:
        raise ReleaseError(
            f"stack {stack_name} did not complete: {exc}\n  " + _failures(cfn, stack_name)
        ) from exc


def _stack(cfn: Any, stack_name: str) -> dict[str, Any] | None:
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return dict(stacks[0]) if stacks else None


def _customised(cfn: Any, stack: Mapping[str, Any], declared: Mapping[str, Any]) -> list[str]:
    """Parameters of the deployed stack set away from its template's default.

    Those keep their value through an upgrade; a parameter left at its default follows
    the new release's default (a newer Powertools layer, say), as a fresh install would.
    """
    try:
        body = cfn.get_template(StackName=stack["StackName"])["TemplateBody"]
        old = body if isinstance(body, Mapping) else decode_template(str(body))
        old_defaults = {k: str(v.get("Default")) for k, v in old.get("Parameters", {}).items()}
    except (ClientError, ReleaseError):
        old_defaults = {}  # unknown: keep every previous value
    return [
        str(p["ParameterKey"])
        for p in stack.get("Parameters", [])
        if p["ParameterKey"] in declared
        and str(p.get("ParameterValue")) != old_defaults.get(p["ParameterKey"])
    ]


def _failures(cfn: Any, stack_name: str) -> str:
    try:
        events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    except ClientError:
        return ""
    reasons = [
        f"{e.get('LogicalResourceId')} {e.get('ResourceStatus')}: {e.get('ResourceStatusReason')}"
        for e in events
        if str(e.get("ResourceStatus", "")).endswith("FAILED")
    ]
    return "\n  ".join(reasons[:10])


def _outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    stack = _stack(cfn, stack_name) or {}
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
