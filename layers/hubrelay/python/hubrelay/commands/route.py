"""`hubrelay route EVENT`: would this stack accept a saved Security Hub event, and what
exactly would it send and write back? It previews; only `--send` sends."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay.commands.common import CommandError, read_json, refused, say

if TYPE_CHECKING:
    from hubrelay.commands import route_config
    from hubrelay.responder import Services
    from hubrelay.routing import RouteConfig
    from hubrelay.settings import Settings


def add_parser(commands: Any) -> None:
    routing = commands.add_parser(
        "route",
        help="say whether this stack accepts a saved Security Hub EventBridge event and what "
        "it would send (a preview; --send sends)",
        description="Configuration, in order: --stack NAME (a deployed stack); --template "
        "PATH and --param K=V (a template's defaults); the responder's HUBRELAY_* variables; "
        "template.yaml in the current directory.",
    )
    routing.add_argument("file", help="EventBridge event (custom action or imported), JSON")
    mode = routing.add_mutually_exclusive_group()
    mode.add_argument("--send", action="store_true", help="deliver and write back for real")
    mode.add_argument(
        "--dry-run", action="store_true", help="preview only (the default; kept as an alias)"
    )
    routing.add_argument(
        "--stack",
        default="",
        help="read a deployed stack's configuration (and, previewing, the findings' state)",
    )
    routing.add_argument("--template", default="", help="a template's defaults (template.yaml)")
    routing.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="template parameter value"
    )
    routing.add_argument("--account", default="", help="with a template: the stack's account")
    routing.add_argument("--region", default="", help="the stack's Region")
    routing.add_argument(
        "--sign",
        action="store_true",
        help="preview: read the webhook signing secret to show real signature headers",
    )
    routing.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hubrelay.commands import route_config
    from hubrelay.routing import RouteConfig

    try:
        event = read_json(args.file)
        source = route_config.resolve(args, event)
        config = RouteConfig.from_settings(source.settings)
        if args.send and not source.live:
            raise CommandError(
                f"--send needs a deployed stack's configuration (--stack NAME or the HUBRELAY_* "
                f"variables): {source.described.split(',')[0]} names no real resources"
            )
    except (OSError, ValueError, CommandError) as exc:
        return refused(args.file, exc)
    try:
        return _route(args, event, source, config)
    except CommandError as exc:
        return refused(args.file, exc)
    except (ClientError, BotoCoreError) as exc:
        # Connecting to the stack's services (its Region, credentials): one line, not a trace.
        return refused(args.file, CommandError(f"stack {args.stack or 'environment'}: {exc}"))


def _route(
    args: argparse.Namespace, event: Any, source: route_config.RouteSource, config: RouteConfig
) -> int:
    """Send (--send) or preview, and say what came of it."""
    from hubrelay import responder

    settings = source.settings
    if args.send:
        outcome = responder.respond(event, settings, config, responder.connect(settings))
        report = responder.outcome_report(outcome)
    else:
        # --stack NAME: the deployed stack's state is read, as --send reads it (reads only),
        # so that a dead-letter replay's preview shows the destinations it would reach.
        services = responder.connect(settings) if args.stack and source.live else None
        signing = None
        if args.sign and settings.webhook_secret_arn:
            signing = _signing(settings, services or responder.connect(settings))
        report = responder.preview(event, config, signing=signing, services=services)
    report = responder.settle_verdict(report)
    report["configuration"] = source.described
    print(json.dumps(report, indent=2, default=str))
    verdict = "accepted" if report["accepted"] else "rejected"
    say(f"{verdict}: {report['reason']}")
    if "stateNotRead" in report:
        say(
            f"the findings' current state was not read ({report['stateNotRead']}): the "
            "deliveries shown are the event's copy's, --send may skip some"
        )
    # A Findings Imported V2 event: each finding by its metadata.uid, with its decision.
    for finding in report.get("findings", []):
        if finding["decision"] == "accepted":
            say(f"metadata.uid {finding['metadataUid']}: accepted, to {', '.join(finding['to'])}")
        else:
            say(f"metadata.uid {finding['metadataUid']}: rejected, {finding['why']}")
    say(f"configuration: {source.described}{'' if args.send else ' (preview: nothing sent)'}")
    return 0 if report["accepted"] else 1


def _signing(settings: Settings, services: Services) -> dict[str, str]:
    """--sign: the webhook secret's key id and signing secret, read as a delivery reads
    them (in the stack's Region); one line when they cannot be, never anything of the
    value."""
    from hubrelay.destinations import webhook
    from hubrelay.errors import DeliveryError

    arn = settings.webhook_secret_arn
    try:
        return webhook.signing_secrets(services.outlets.secret(arn))
    except DeliveryError as exc:
        # Says what the secret lacks ("is not a JSON object", "lacks ... 'signing_secret'").
        raise CommandError(f"--sign: the webhook secret {arn}: {exc}") from None
    except Exception as exc:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        # Powertools' GetSecretError says what AWS said (no value); only the kind of any other.
        why = str(exc) if isinstance(exc, GetParameterError) else type(exc).__name__
        raise CommandError(f"--sign: the webhook secret {arn} cannot be read: {why}") from None
