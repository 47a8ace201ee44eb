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
from hubrelay.observability import logger
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
# Payload keys beside the body: why a body went without the ASFF copy, or why it cannot be
# sent at all.
TRUNCATED = "truncated"
OVERSIZE = "oversize"
_SLACK_EMOJI = {"CRITICAL": ":red_circle:", "HIGH": ":large_orange_circle:"}


def render(
    decision: Decision, findings: Sequence[EventFinding], settings: Settings
) -> list[Delivery]:
    """One delivery per finding; with WebhookMode=batch, one per event.

    Security Hub sends each finding as an event of its own, custom actions (a selection of
    up to 20 findings is up to 20 events) and Imported events alike ("Security Hub event
    types in EventBridge",
    https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-cwe-integration-types.html):
    a batch holds several findings only when one event carries several (a dead-letter
    replay, `hubrelay route` on a hand-made event). Every body stays within
    WebhookMaxBodyBytes: a batch over it is split in halves, a single finding over it is
    sent without its ASFF copy (the body says so)."""
    if settings.webhook_mode == "batch":
        groups = [list(findings)] if findings else []
    else:
        groups = [[finding] for finding in findings]
    return [delivery for group in groups for delivery in _within_cap(decision, group, settings)]


def _within_cap(
    decision: Decision, group: list[EventFinding], settings: Settings
) -> list[Delivery]:
    cap = settings.webhook_max_body_bytes
    payload = render_body(decision, group, settings.webhook_format)
    size = len(str(payload["body"]).encode("utf-8"))
    if size <= cap:
        return [Delivery("webhook", group, payload)]
    if len(group) > 1:
        half = len(group) // 2
        return _within_cap(decision, group[:half], settings) + _within_cap(
            decision, group[half:], settings
        )
    note = (
        f"the finding's ASFF copy is left out: with it the body is {size} bytes, over "
        f"WebhookMaxBodyBytes ({cap}); GetFindings returns the whole finding"
    )
    payload = render_body(decision, group, settings.webhook_format, left_out=note)
    size = len(str(payload["body"]).encode("utf-8"))
    if size > cap:
        # Sending nothing would lose it silently: the send fails with the reason, and the
        # delivery goes to the dead-letter queue.
        payload[OVERSIZE] = (
            f"webhook body of finding {group[0].Id[:200]!r} is {size} bytes even without its "
            f"ASFF copy, over WebhookMaxBodyBytes ({cap})"
        )
    else:
        payload[TRUNCATED] = note
    return [Delivery("webhook", group, payload)]


def render_body(
    decision: Decision,
    findings: Sequence[EventFinding],
    fmt: str = "hubrelay",
    left_out: str | None = None,
) -> dict[str, Any]:
    """{"body": <exact bytes as text>, "contentType"} for these findings; with `left_out`,
    the findings' ASFF copies are replaced by {"truncated": {"asff": left_out}}."""
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
                {**summary, "truncated": dict.fromkeys(finding.source_document(), left_out)}
                if left_out
                else {**summary, **finding.source_document()}
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


# What a verifier accepts (docs/webhooks.md, "Verifying"): the same rules as the receivers'
# reference verifier, examples/webhook-receivers/verify_webhook.py.
REPLAY_WINDOW_S = 300
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DELIVERY = re.compile(r"[0-9a-f]{32}")
_SIGNATURE = re.compile(r"v2=[0-9a-f]{64}")


def verify(
    headers: Any, body: bytes, secrets: Mapping[str, str], now: float | None = None
) -> str | None:
    """Why a request is not signed by one of `secrets` (key id -> signing secret) within the
    replay window, or None when it is. `headers`: anything with items(), as a Lambda
    function URL passes them (a repeated header joined with commas, which no rule below
    accepts) or with repeats as pairs (refused)."""
    timestamp, delivery, key_id, given = (
        _one_header(headers, name)
        for name in (TIMESTAMP_HEADER, DELIVERY_HEADER, KEY_ID_HEADER, SIGNATURE_HEADER)
    )
    if timestamp is None or delivery is None or key_id is None or given is None:
        return "a signature header is missing (X-Hubrelay-Timestamp/-Delivery/-Key-Id/-Signature)"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "X-Hubrelay-Timestamp is not Unix seconds"
    if not _DELIVERY.fullmatch(delivery):
        return "X-Hubrelay-Delivery is not 32 lowercase hex characters"
    if not _KEY_ID.fullmatch(key_id) or key_id not in secrets:
        return "X-Hubrelay-Key-Id names no signing secret"
    if not _SIGNATURE.fullmatch(given):
        return "X-Hubrelay-Signature is not v2= and 64 lowercase hex characters"
    if abs((time.time() if now is None else now) - int(timestamp)) > REPLAY_WINDOW_S:
        return f"X-Hubrelay-Timestamp is more than {REPLAY_WINDOW_S} s from now (stale or replayed)"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    if not hmac.compare_digest(signature(secrets[key_id], timestamp, delivery, text), given):
        return "the signature does not match the body"
    return None


def _one_header(headers: Any, name: str) -> str | None:
    """The one text value of a header, or None when it is missing, repeated or not text."""
    found = [value for key, value in headers.items() if str(key).lower() == name.lower()]
    return found[0] if len(found) == 1 and isinstance(found[0], str) else None


def signing_secrets(secret_text: str) -> dict[str, str]:
    """key id -> signing secret, from the webhook secret (JSON {"signing_secret",
    "key_id"?}); DeliveryError when it has none."""
    key_id, signing_key = _signing_key(json_secret(secret_text, "webhook"))
    return {key_id: signing_key}


def _signing_key(secret: Mapping[str, Any]) -> tuple[str, str]:
    """(key id, signing secret) of the webhook secret; DeliveryError when it has none."""
    signing_key, key_id = secret.get("signing_secret"), secret.get("key_id", DEFAULT_KEY_ID)
    if not isinstance(signing_key, str) or not signing_key:
        raise DeliveryError("webhook secret lacks 'url' or 'signing_secret'")
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise DeliveryError("webhook secret's 'key_id' is not 1-64 of A-Z a-z 0-9 . _ -")
    return key_id, signing_key


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
    if why := delivery.payload.get(OVERSIZE):
        raise DeliveryError(str(why))
    secret = json_secret(read_secret(outlets, settings.webhook_secret_arn, "webhook"), "webhook")
    url = secret.get("url")
    if not isinstance(url, str):
        raise DeliveryError("webhook secret lacks 'url' or 'signing_secret'")
    key_id, signing_key = _signing_key(secret)
    if note := delivery.payload.get(TRUNCATED):
        logger.warning(
            "webhook body truncated", findings=[f.Id for f in delivery.findings], why=note
        )
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
    delivery: Delivery, key: Mapping[str, str], signing: Mapping[str, str] | None
) -> dict[str, Any]:
    """The headers a send would carry: signed now when `signing` (signing_secrets of the
    webhook secret: its key id and signing secret) is given, else described (the signature
    depends on the send time and the signing secret)."""
    body = str(delivery.payload["body"])
    for key_id, secret in (signing or {}).items():
        return {"headers": signed_headers(body, secret, delivery_id(key), key_id)}
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


DESTINATION = Destination(
    "webhook",
    "webhook",
    enabled,
    action_arn,
    render,
    send,
    preview=preview,
    needs="EnableWebhook=true and WebhookSecretName (HUBRELAY_WEBHOOK_SECRET_ARN)",
)
