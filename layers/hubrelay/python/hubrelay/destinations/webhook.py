"""HTTPS webhook: a JSON document per finding (or per batch), signed with HMAC-SHA256.

Signature (docs/webhooks.md): `X-Hubrelay-Signature: v2=<hex HMAC-SHA256(secret,
timestamp + "." + delivery id + "." + body)>` with `X-Hubrelay-Timestamp: <unix seconds>`,
`X-Hubrelay-Delivery` and `X-Hubrelay-Key-Id` (which secret signed); receivers recompute it
over the raw body and refuse timestamps outside their replay window (reference verifiers in
Python and Node.js: examples/webhook-receivers/). The URL, the signing secret and its key id
come from Secrets Manager (JSON secret {"url", "signing_secret", "key_id"?}).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from hubrelay.destinations.common import finding_summary, json_secret, read_secret, slack_escape
from hubrelay.errors import DeliveryError
from hubrelay.http import HttpError
from hubrelay.route_types import Decision, Delivery, Destination, EventFinding, Outlets
from hubrelay.settings import Settings

SIGNATURE_HEADER = "X-Hubrelay-Signature"
TIMESTAMP_HEADER = "X-Hubrelay-Timestamp"
DELIVERY_HEADER = "X-Hubrelay-Delivery"
KEY_ID_HEADER = "X-Hubrelay-Key-Id"
SCHEME = "v2"
# The key id sent when the secret names none; receivers map key ids to signing secrets, so
# a rotation can run both for a while.
DEFAULT_KEY_ID = "default"
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
PAYLOAD_VERSION = 1
_SLACK_EMOJI = {"CRITICAL": ":red_circle:", "HIGH": ":large_orange_circle:"}


def render(
    decision: Decision, findings: Sequence[EventFinding], settings: Settings
) -> list[Delivery]:
    """One delivery per finding, or one for them all when WebhookMode is batch."""
    if settings.webhook_mode == "batch":
        groups = [list(findings)] if findings else []
    else:
        groups = [[finding] for finding in findings]
    return [
        Delivery("webhook", group, render_body(decision, group, settings.webhook_format))
        for group in groups
    ]


def render_body(
    decision: Decision, findings: Sequence[EventFinding], fmt: str = "hubrelay"
) -> dict[str, Any]:
    """{"body": <exact bytes as text>, "contentType"} for these findings."""
    summaries = [finding_summary(f, decision.region) for f in findings]
    if fmt == "slack":
        document: dict[str, Any] = _slack(summaries, decision)
    else:
        route = decision.route
        document = {
            "version": PAYLOAD_VERSION,
            "source": "hubrelay",
            "eventId": decision.event_id,
            "route": {
                "kind": route.kind if route else None,
                "name": route.name if route else None,
                "action": route.action if route else None,
            },
            "findings": [
                {**summary, "asff": finding.raw()}
                for summary, finding in zip(summaries, findings, strict=True)
            ],
        }
    body = json.dumps(document, separators=(",", ":"), sort_keys=True)
    return {"body": body, "contentType": "application/json"}


def _slack(summaries: list[dict[str, Any]], decision: Decision) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    for summary in summaries[:45]:  # Slack allows 50 blocks per message
        emoji = _SLACK_EMOJI.get(summary["severity"], ":white_circle:")
        links = summary["links"].items()
        link_text = " | ".join(f"<{slack_escape(url)}|{name}>" for name, url in links)
        source = slack_escape(str(summary["productName"] or summary["productArn"]))
        text = (
            f"{emoji} *[{summary['severity']}] {slack_escape(str(summary['title'])[:200])}*\n"
            f"{source} - account {slack_escape(str(summary['awsAccountId']))} - "
            f"{slack_escape(str(summary['region']))}\n{link_text}"
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    if len(summaries) > 45:
        more = {"type": "mrkdwn", "text": f"... and {len(summaries) - 45} more findings"}
        blocks.append({"type": "section", "text": more})
    name = slack_escape(decision.route_name or "hubrelay")
    return {"text": f"Security Hub: {len(summaries)} finding(s) via {name}", "blocks": blocks}


def signature(secret: str, timestamp: str, delivery: str, body: str) -> str:
    # The delivery id is inside what is signed: a receiver that deduplicates on it can trust
    # it, and a signed body cannot be replayed under another delivery id.
    message = f"{timestamp}.{delivery}.{body}".encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def signed_headers(
    body: str,
    secret: str,
    delivery: str,
    key_id: str = DEFAULT_KEY_ID,
    now: float | None = None,
) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, delivery, body),
        DELIVERY_HEADER: delivery,
        KEY_ID_HEADER: key_id,
    }


def delivery_id(idempotency_key: Mapping[str, str]) -> str:
    """A stable id per delivery: receivers can deduplicate on it too."""
    return hashlib.sha256(json.dumps(dict(idempotency_key), sort_keys=True).encode()).hexdigest()[
        :32
    ]


def send(
    delivery: Delivery, key: Mapping[str, str], settings: Settings, outlets: Outlets
) -> dict[str, str]:
    secret = json_secret(read_secret(outlets, settings.webhook_secret_arn, "webhook"), "webhook")
    url, signing_key = secret.get("url"), secret.get("signing_secret")
    key_id = secret.get("key_id", DEFAULT_KEY_ID)
    if not isinstance(url, str) or not isinstance(signing_key, str) or not signing_key:
        raise DeliveryError("webhook secret lacks 'url' or 'signing_secret'")
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise DeliveryError("webhook secret's 'key_id' is not 1-64 of A-Z a-z 0-9 . _ -")
    delivery_ref = delivery_id(key)
    body = str(delivery.payload["body"])
    headers = signed_headers(body, signing_key, delivery_ref, key_id)
    try:
        response = outlets.http.request("POST", url, body=body.encode("utf-8"), headers=headers)
    except (HttpError, ValueError) as error:
        raise DeliveryError(f"webhook: {error}") from None
    reference = _receiver_reference(response.body) or delivery_ref
    return {"reference": reference, "delivery": delivery_ref}


def preview(
    delivery: Delivery, key: Mapping[str, str], signing_secret: str | None
) -> dict[str, Any]:
    """The headers a send would carry: signed now when the secret is given, else described
    (the signature depends on the send time and the signing secret)."""
    body = str(delivery.payload["body"])
    if signing_secret:
        return {"headers": signed_headers(body, signing_secret, delivery_id(key))}
    return {
        "headers": {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: "<unix seconds at send time>",
            SIGNATURE_HEADER: "v2=<hex HMAC-SHA256(signing secret, "
            "timestamp + '.' + delivery id + '.' + body)>",
            DELIVERY_HEADER: delivery_id(key),
            KEY_ID_HEADER: "<the secret's key_id, or default>",
        }
    }


def _receiver_reference(body: bytes) -> str | None:
    """A ticket key the receiver may return as {"reference": "..."} (optional)."""
    try:
        document = json.loads(body or b"null")
    except ValueError:
        return None
    value = document.get("reference") if isinstance(document, dict) else None
    return str(value)[:256] if isinstance(value, str | int) and str(value).strip() else None


def enabled(settings: Settings) -> bool:
    return bool(settings.webhook_secret_arn)


def action_arn(settings: Settings) -> str:
    return settings.webhook_action_arn


DESTINATION = Destination("webhook", "webhook", enabled, action_arn, render, send, preview=preview)
