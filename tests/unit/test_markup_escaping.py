"""Finding text is the product's, never markup: hostile strings in every field that reaches
Slack mrkdwn (the webhook's slack format) or AWS Chatbot's client-markdown (SNS)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from hubrelay.routing import RouteConfig, decide, plan_deliveries
from hubrelay.settings import Settings
from tests.support import load_fixture

WEBHOOK_ACTION = "arn:aws:securityhub:us-east-1:111111111111:action/custom/hubrelayHook"
SNS_ACTION = "arn:aws:securityhub:us-east-1:111111111111:action/custom/hubrelaySns"
HOSTILE = [
    "<https://evil.example|Security Hub> <!channel>",
    "<!here> @here @channel",
    "[click me](https://evil.example) ![img](https://evil.example/x.png)",
    "`code` *bold* _it_ ~strike~ # heading | cell",
    "&lt;!channel&gt; already escaped & raw",
]


def routed(field: str, value: str, action: str, **settings: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_fixture("events/custom-action-partner.json"))
    event["resources"] = [action]
    finding = event["detail"]["findings"][0]
    if field == "Resources":
        finding["Resources"] = [{"Type": "Other", "Id": value}]
    else:
        finding[field] = value
    config = RouteConfig.from_settings(
        Settings(
            webhook_action_arn=WEBHOOK_ACTION,
            webhook_secret_arn="hubrelay/webhook",
            sns_action_arn=SNS_ACTION,
            sns_topic_arn="arn:aws:sns:us-east-1:111111111111:t",
            **settings,
        )
    )
    decision = decide(event, config)
    assert decision.accepted, decision.reason
    (delivery,) = plan_deliveries(decision, config)
    return delivery.payload


def slack_links(text: str) -> list[str]:
    return re.findall(r"<([^<>]*)>", text)


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ["Title", "ProductName", "AwsAccountId", "Description"])
def test_slack_text_shows_hostile_strings_literally(field, value):
    # Given a finding whose field holds Slack control sequences
    payload = routed(field, value, WEBHOOK_ACTION, webhook_format="slack")
    message = json.loads(payload["body"])
    texts = [message["text"], *(b["text"]["text"] for b in message["blocks"])]
    for text in texts:
        # Then the only <...> sequences are our own console links: no mention, no other link
        for link in slack_links(text):
            assert link.startswith("https://console.aws.amazon.com/"), link
        assert "<!" not in text


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ["Title", "ProductName", "Description"])
def test_chatbot_markdown_shows_hostile_strings_literally(field, value):
    payload = routed(field, value, SNS_ACTION)
    chatbot = json.loads(json.loads(payload["Message"])["default"])
    content = chatbot["content"]
    shown = [content["title"], content["description"], chatbot["metadata"]["summary"]]
    for text in shown:
        # No unescaped Markdown link or image, no Slack control character, no live mention
        assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(", text), text
        assert "<" not in text.replace("<https://console", "")
        assert not re.search(r"@(here|channel)\b", text), text
    # The email part is plain text: the value as it is.
    if field != "ProductName":
        assert value in json.loads(payload["Message"])["email"]


def test_escaped_text_keeps_its_meaning_for_a_reader():
    # Plain words, numbers, dots and hyphens stay as they are; only markup is escaped.
    payload = routed("Title", "CVE-2024-3094 in xz 5.6.0 & 5.6.1 (backdoor)", SNS_ACTION)
    title = json.loads(json.loads(payload["Message"])["default"])["content"]["title"]
    assert title == "[HIGH] CVE-2024-3094 in xz 5.6.0 &amp; 5.6.1 \\(backdoor\\)"
