"""Where `hubrelay route` takes the responder's configuration from, and saying which.

In order: a deployed stack (`--stack NAME`: the responder function's own environment, read
through CloudFormation and Lambda); a template (`--template PATH` and `--param K=V`, or
template.yaml in the current directory): its defaults resolved as CloudFormation would,
in the event's account and Region unless `--account`/`--region` say otherwise; the
responder's HUBRELAY_* variables in this environment. A template names no real resources,
so only a stack or the environment can `--send`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubrelay.commands.common import CommandError, parse_params
from hubrelay.settings import Settings, SettingsError

RESPONDER = "ResponderFunction"
DEFAULT_TEMPLATE = "template.yaml"


@dataclass(frozen=True)
class RouteSource:
    settings: Settings
    described: str  # which configuration, in words
    live: bool  # names a real stack's resources: sending is possible


class _Placeholder(dict[str, str]):
    """A resource's Ref and attributes when nothing is deployed: `<LogicalId.Attribute>`."""

    def __init__(self, logical_id: str) -> None:
        super().__init__()
        self.logical_id = logical_id

    def __missing__(self, attribute: str) -> str:
        return f"<{self.logical_id}>" if attribute == "Ref" else f"<{self.logical_id}.{attribute}>"


def resolve(args: Any, event: Any) -> RouteSource:
    """The configuration the command line asks for (see the module docstring)."""
    params = parse_params(args.param)
    if args.stack:
        if params or args.template:
            raise CommandError("--stack reads a deployed stack: --param/--template do not apply")
        return from_stack(args.stack, args.region or None)
    environ = {k: v for k, v in os.environ.items() if k.startswith("HUBRELAY_") and v}
    template = args.template or (DEFAULT_TEMPLATE if Path(DEFAULT_TEMPLATE).is_file() else "")
    if params or args.template or (template and not environ):
        account, region, said = _where(args, event)
        return from_template(template or DEFAULT_TEMPLATE, params, account, region, said)
    if environ:
        names = ", ".join(sorted(environ))
        return RouteSource(_settings(os.environ, "the environment"), f"environment ({names})", True)
    raise CommandError(
        "no configuration to route with: pass --stack NAME (a deployed stack), "
        "--template PATH [--param K=V] (a template's defaults), or set the responder's "
        "HUBRELAY_* variables (HUBRELAY_WEBHOOK_ACTION_ARN, HUBRELAY_SNS_ACTION_ARN, ...)"
    )


def _where(args: Any, event: Any) -> tuple[str, str, str]:
    """The account and Region to resolve a template in: the options, else the event's."""
    fields = event if isinstance(event, dict) else {}
    account = args.account or str(fields.get("account") or "")
    region = args.region or str(fields.get("region") or "")
    if (not account or not region) and "detail-type" not in fields:
        # Not an event at all (a findings file, a scanner report): say so, rather than ask
        # for the account and Region it cannot name.
        raise CommandError(
            f'{args.file}: not an EventBridge event (no "detail-type"): route reads a '
            "Security Hub event as EventBridge delivers it (Security Hub Findings - Custom "
            "Action, Security Hub Findings - Imported, Findings Imported V2)"
        )
    if not account or not region:
        raise CommandError("the event names no account or Region: pass --account and --region")
    said = "given" if args.account and args.region else "the event's"
    return account, region, said


def _settings(environ: Mapping[str, str], where: str) -> Settings:
    try:
        return Settings.from_env(environ)
    except SettingsError as exc:
        raise CommandError(f"{where}: {exc}") from None


def from_template(
    path: str, params: Mapping[str, str], account: str, region: str, said: str
) -> RouteSource:
    variables = template_environment(path, params, account=account, region=region)
    shown = " ".join(f"{k}={v}" for k, v in sorted(params.items()))
    described = f"{path} defaults{f' with {shown}' if shown else ''}, as deployed in account "
    described += f"{account}, {region} ({said})"
    settings = _settings({**variables, "AWS_REGION": region}, path)
    return RouteSource(settings, described, False)


def template_environment(
    path: str, params: Mapping[str, str], *, account: str, region: str
) -> dict[str, str]:
    """The responder's environment variables as `path` with `params` would set them."""
    try:
        # The template resolver lives with the stack emulator (a clone's .venv).
        from hubrelay_emulator import cfn
    except ImportError:
        raise CommandError(
            "reading a template needs hubrelay's development install (a clone's .venv): "
            "use --stack NAME or the HUBRELAY_* variables instead"
        ) from None
    try:
        template = cfn.load(path)
        resolver = cfn.Resolver.create(
            template,
            params,
            region=region,
            account=account,
            stack_name="hubrelay",
            resolve_ssm=lambda name: f"<ssm:{name}>",
        )
        resources: dict[str, Any] = template.get("Resources", {})
        for logical_id, spec in resources.items():
            if "Condition" not in spec or resolver.condition(spec["Condition"]):
                resolver.attributes[logical_id] = _attributes(resolver, logical_id, spec)
        variables = resources[RESPONDER]["Properties"]["Environment"]["Variables"]
        resolved: dict[str, Any] = resolver.resolve(variables)
    except (OSError, KeyError, cfn.TemplateError) as exc:
        raise CommandError(f"{path}: {exc}") from None
    return {name: str(value) for name, value in resolved.items()}


def _attributes(resolver: Any, logical_id: str, spec: Mapping[str, Any]) -> dict[str, str]:
    if spec.get("Type") != "AWS::SecurityHub::ActionTarget":
        return _Placeholder(logical_id)
    # An action target's ARN is known before it exists: arn:<partition>:securityhub:<Region>:
    # <account>:action/custom/<Id> (https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-cwe-custom-actions.html).
    pseudo = resolver.pseudo
    action_id = resolver.resolve(spec["Properties"]["Id"])
    arn = (
        f"arn:{pseudo['AWS::Partition']}:securityhub:{pseudo['AWS::Region']}:"
        f"{pseudo['AWS::AccountId']}:action/custom/{action_id}"
    )
    return {"Ref": arn, "ActionTargetArn": arn}


def from_stack(name: str, region: str | None) -> RouteSource:
    """The environment of the stack's responder function, as deployed."""
    from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

    from hubrelay import aws

    try:
        stacks = aws.client("cloudformation", region)
        detail = stacks.describe_stack_resource(StackName=name, LogicalResourceId=RESPONDER)
        function = detail["StackResourceDetail"]["PhysicalResourceId"]
        functions = aws.client("lambda", region)
        configuration = functions.get_function_configuration(FunctionName=function)
        where = str(functions.meta.region_name)
    except NoRegionError:
        raise CommandError("no AWS Region: pass --region or set AWS_REGION") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CommandError(f"stack {name}: {error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as exc:
        raise CommandError(f"stack {name}: {exc}") from None
    variables = dict(configuration.get("Environment", {}).get("Variables", {}))
    settings = _settings({**variables, "AWS_REGION": where}, f"stack {name}")
    return RouteSource(settings, f"stack {name} ({function}, {where})", True)
