"""What the destination modules share: the summary every message shows, one delivery per
finding, secrets read without leaking, AWS calls whose failures become DeliveryError."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay import links
from hubrelay.errors import DeliveryError
from hubrelay.route_types import Decision, Delivery, EventFinding, Outlets
from hubrelay.settings import Settings

Render = Callable[[Decision, Sequence[EventFinding], Settings], list[Delivery]]


def finding_summary(finding: EventFinding, region: str) -> dict[str, Any]:
    """The fields every destination shows, with the console links."""
    finding_region = finding.Region or region
    return {
        "id": finding.Id,
        "productArn": finding.ProductArn,
        "productName": finding.product_name,
        "companyName": finding.CompanyName,
        "awsAccountId": finding.AwsAccountId,
        "region": finding_region,
        "title": finding.Title or finding.GeneratorId or finding.Id,
        "description": finding.Description or "",
        "severity": finding.severity_label,
        "types": finding.Types,
        "workflowStatus": finding.workflow_status,
        "recordState": finding.RecordState or "ACTIVE",
        "createdAt": finding.CreatedAt,
        "updatedAt": finding.UpdatedAt,
        "resources": [{"type": r.Type, "id": r.Id} for r in finding.Resources[:32]],
        # The console of the Region the event came from: with cross-Region aggregation
        # that is the aggregation Region, where the finding can be opened.
        "links": links.finding_links(
            finding.Id,
            region or finding_region,
            finding.product_name,
            str(finding.GeneratorId or finding.Id) if finding.is_v2 else None,
        ),
        # Which Security Hub the finding is from: "CSPM" (ASFF) or "SecurityHub" (OCSF).
        "securityHubEdition": "SecurityHub" if finding.is_v2 else "CSPM",
    }


def per_finding(name: str, render: Callable[[Decision, EventFinding], dict[str, Any]]) -> Render:
    """A destination's `render` that sends one delivery per finding (all but a batch
    webhook)."""

    def render_all(
        decision: Decision, findings: Sequence[EventFinding], settings: Settings
    ) -> list[Delivery]:
        return [Delivery(name, [finding], render(decision, finding)) for finding in findings]

    return render_all


# Slack reads &, < and > as control characters in mrkdwn: `<https://x|text>` is a link,
# `<!channel>` a mention ("Formatting text for app surfaces", Escaping text,
# https://api.slack.com/reference/surfaces/formatting#escaping). Escaping those three is
# what Slack asks for, in link URLs too.
def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# What makes Markdown a link, an image, code, emphasis, a heading or a table cell.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]()#!|~])")


def markdown_escape(text: str) -> str:
    """Text shown literally by a Markdown renderer (AWS Chatbot's "client-markdown"): every
    Markdown metacharacter backslash-escaped, so `[x](https://evil)` is no link, Slack's
    control characters escaped, and `@here` / `@channel` broken with a zero-width space so
    they mention nobody."""
    escaped = _MARKDOWN_SPECIALS.sub(r"\\\1", slack_escape(text))
    return escaped.replace("@", "@\u200b")


def call_aws(what: str, operation: Callable[..., Any], **params: Any) -> Any:
    """`operation(**params)`; a failure botocore did not retry away is a DeliveryError."""
    try:
        return operation(**params)
    except (ClientError, BotoCoreError) as error:
        raise DeliveryError(f"{what}: {error}") from None


def read_secret(outlets: Outlets, arn: str, what: str) -> str:
    try:
        return outlets.secret(arn)
    except Exception as error:
        # Any failure: report its kind, never anything that might hold the value.
        raise DeliveryError(f"{what}: cannot read its secret ({type(error).__name__})") from None


def json_secret(text: str, what: str) -> Mapping[str, Any]:
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, Mapping):
        raise DeliveryError(f"{what}: its secret is not a JSON object")
    return document
