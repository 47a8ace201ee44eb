"""SNS topic: one message per finding, readable by email and by AWS Chatbot.

The message uses MessageStructure "json": email subscribers get plain text, every other
protocol (AWS Chatbot's https endpoint, SQS, Lambda) gets the Chatbot custom-notification
JSON: AWS Chatbot reaches Slack and Chime through an SNS topic ("Available AWS service
integrations",
https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-internal-providers.html).
Message attributes (severity, product) let subscribers filter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hubrelay.destinations.common import call_aws, finding_summary, markdown_escape, per_finding
from hubrelay.route_types import Decision, Delivery, Destination, EventFinding, Outlets
from hubrelay.settings import Settings

MAX_SUBJECT = 100


def _subject(severity: str, title: str) -> str:
    # SNS subjects: ASCII, no line breaks, under 100 characters.
    text = f"[{severity}] Security Hub: {title}"
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return text[: MAX_SUBJECT - 1]


def render_one(decision: Decision, finding: EventFinding) -> dict[str, Any]:
    """The exact PublishInput (without TopicArn)."""
    summary = finding_summary(finding, decision.region)
    link_lines = [f"{name}: {url}" for name, url in summary["links"].items()]
    resources = ", ".join(r["id"] for r in summary["resources"][:5])
    product = str(summary["productName"] or "")
    text = "\n".join(
        [
            f"{summary['severity']} finding from {summary['productName'] or summary['productArn']}",
            f"Title: {summary['title']}",
            f"Account: {summary['awsAccountId']}  Region: {summary['region']}",
            f"Resources: {resources}",
            "",
            str(summary["description"])[:2000],
            "",
            *link_lines,
            f"Finding Id: {summary['id']}",
        ]
    )
    chatbot = {
        "version": "1.0",
        "source": "custom",
        "id": decision.event_id,
        "content": {
            "textType": "client-markdown",
            # Finding text is the product's, not ours: shown literally, never as markup.
            "title": f"[{summary['severity']}] {markdown_escape(str(summary['title'])[:200])}",
            "description": "\n".join(
                [markdown_escape(str(summary["description"])[:1000]), *link_lines]
            ),
            "nextSteps": [f"Open in Security Hub: {summary['links'].get('securityHub', '')}"],
        },
        "metadata": {
            "summary": f"{summary['severity']} {markdown_escape(product)} finding",
            "additionalContext": {"findingId": summary["id"][:256]},
        },
    }
    attributes = {
        "severity": {"DataType": "String", "StringValue": summary["severity"]},
        "product": {
            "DataType": "String",
            "StringValue": summary["productName"] or summary["productArn"],
        },
    }
    return {
        "Subject": _subject(summary["severity"], summary["title"]),
        "MessageStructure": "json",
        "Message": json.dumps({"default": json.dumps(chatbot), "email": text}),
        "MessageAttributes": attributes,
    }


render = per_finding("sns", render_one)


def enabled(settings: Settings) -> bool:
    return bool(settings.sns_topic_arn)


def action_arn(settings: Settings) -> str:
    return settings.sns_action_arn


def send(
    delivery: Delivery, key: Mapping[str, str], settings: Settings, outlets: Outlets
) -> dict[str, str]:
    publish = outlets.sns.publish
    reply = call_aws("sns", publish, TopicArn=settings.sns_topic_arn, **delivery.payload)
    return {"reference": str(reply["MessageId"])}


DESTINATION = Destination(
    "sns",
    "SNS",
    enabled,
    action_arn,
    render,
    send,
    needs="EnableSns=true (HUBRELAY_SNS_TOPIC_ARN)",
)
