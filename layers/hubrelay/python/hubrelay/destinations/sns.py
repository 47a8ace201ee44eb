"""SNS topic: one message per finding, readable by email and by AWS Chatbot.

The message uses MessageStructure "json": email subscribers get plain text, every other
protocol (AWS Chatbot's https endpoint, SQS, Lambda) gets the Chatbot custom-notification
JSON (seed 003: Chatbot reaches Slack and Chime through an SNS topic). Message attributes
(severity, product) let subscribers filter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay.destinations import DeliveryError

if TYPE_CHECKING:
    from hubrelay.routing import Decision, Finding

MAX_SUBJECT = 100


def _subject(severity: str, title: str) -> str:
    # SNS subjects: ASCII, no line breaks, under 100 characters.
    text = f"[{severity}] Security Hub: {title}"
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return text[: MAX_SUBJECT - 1]


def render(decision: Decision, finding: Finding) -> dict[str, Any]:
    """The exact PublishInput (without TopicArn)."""
    from hubrelay.routing import finding_summary

    summary = finding_summary(finding, decision.region)
    link_lines = [f"{name}: {url}" for name, url in summary["links"].items()]
    resources = ", ".join(r["id"] for r in summary["resources"][:5])
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
            "title": f"[{summary['severity']}] {summary['title']}"[:250],
            "description": "\n".join([str(summary["description"])[:1000], *link_lines]),
            "nextSteps": [f"Open in Security Hub: {summary['links'].get('securityHub', '')}"],
        },
        "metadata": {
            "summary": f"{summary['severity']} {summary['productName'] or ''} finding",
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


def send(payload: Mapping[str, Any], sns: Any, topic_arn: str) -> dict[str, str]:
    try:
        reply = sns.publish(TopicArn=topic_arn, **payload)
    except (ClientError, BotoCoreError) as error:
        raise DeliveryError(f"sns: {error}") from None
    return {"reference": str(reply["MessageId"])}
