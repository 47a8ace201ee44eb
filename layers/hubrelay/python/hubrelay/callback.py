"""The status callback: a webhook receiver tells hubrelay that its ticket is closed.

`POST` to the stack's function URL (output StatusCallbackUrl) with a JSON body
`{"closures": [{"productArn", "findingId" | "metadataUid", "reference", "note"?}, ...]}`,
signed exactly as hubrelay signs its webhooks (docs/webhooks.md, "Status callback"): the
receiver signs with the webhook's signing secret and key id, and picks a fresh delivery id
(32 lowercase hex characters) per request.

The function URL has AuthType NONE (receivers cannot sign with SigV4), so this module is
the authentication: the HMAC is verified before anything else is read, a timestamp more
than five minutes from now is refused, and each (key id, delivery id) is taken once with a
conditional put in the idempotency table, so a captured request cannot be replayed. Every
answer is JSON with a one-line reason: 401 (not signed), 409 (a replay), 400 (a body that
cannot be read), 404 (no finding known), 502 (Security Hub failed: retry with a new
delivery id), 200 (per-finding results). Never a traceback, never the secret.

The request is the function URL's event, payload format 2.0 ("Invoking Lambda function
URLs", https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay.destinations import webhook
from hubrelay.syncback import MAX_CLOSURES, Closure, ClosureError, Outcome, parse_closure

MAX_BODY_BYTES = 64 * 1024
REPLAY_PREFIX = "hubrelay-callback"


class Rejected(Exception):
    """A request answered with `status` and this one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def is_function_url_event(event: Any) -> bool:
    """Whether `event` is a function URL's request (payload format 2.0)."""
    return (
        isinstance(event, Mapping)
        and event.get("version") == "2.0"
        and isinstance(event.get("requestContext"), Mapping)
        and "http" in event["requestContext"]
    )


def request_body(event: Mapping[str, Any]) -> bytes:
    """The raw body bytes, as signed: function URLs base64-encode a body they do not treat
    as text (`isBase64Encoded`)."""
    method = str(event["requestContext"]["http"].get("method", ""))
    if method != "POST":
        raise Rejected(405, f"method {method[:10]} is not allowed: POST the closures")
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise Rejected(400, "the body is not text")
    try:
        encoded = bool(event.get("isBase64Encoded"))
        raw = base64.b64decode(body, validate=True) if encoded else body.encode()
    except (binascii.Error, ValueError):
        raise Rejected(400, "the body is not valid base64") from None
    if len(raw) > MAX_BODY_BYTES:
        raise Rejected(413, f"the body is over {MAX_BODY_BYTES} bytes")
    return raw


def closures(raw: bytes) -> list[Closure]:
    """The closures of a verified body; Rejected(400) naming the entry and the reason."""
    try:
        document = json.loads(raw)
    except ValueError as error:
        raise Rejected(400, f"the body is not JSON: {error}") from None
    entries = document.get("closures") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_CLOSURES:
        raise Rejected(400, f"'closures' must be a list of 1 to {MAX_CLOSURES} closures")
    try:
        return [parse_closure(e, "callback", f"closures[{i}]") for i, e in enumerate(entries)]
    except ClosureError as error:
        raise Rejected(400, str(error)) from None


@dataclass(frozen=True)
class ReplayGuard:
    """Each (key id, delivery id) once, for twice the replay window (then the timestamp
    check refuses it anyway): a conditional put in the idempotency table, whose TTL
    attribute `expiration` removes it."""

    table: str
    client: Any

    def key(self, key_id: str, delivery: str) -> dict[str, Any]:
        return {"id": {"S": f"{REPLAY_PREFIX}#{key_id}#{delivery}"}}

    def claim(self, key_id: str, delivery: str, now: float) -> bool:
        expiration = int(now) + 2 * webhook.REPLAY_WINDOW_S
        item = {**self.key(key_id, delivery), "expiration": {"N": str(expiration)}}
        try:
            self.client.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(id)"
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, key_id: str, delivery: str) -> None:
        """Forget a delivery whose closures failed, so that the receiver may retry it."""
        self.client.delete_item(TableName=self.table, Key=self.key(key_id, delivery))


@dataclass(frozen=True)
class Callback:
    """What a callback needs: the signing secrets, the replay guard, and the resolver."""

    secrets: Callable[[], Mapping[str, str]]
    guard: ReplayGuard
    resolve: Callable[[list[Closure]], Outcome]
    clock: Callable[[], float] = time.time


def handle(event: Mapping[str, Any], callback: Callback) -> dict[str, Any]:
    """The function URL's response for one request."""
    try:
        return answer(200, process(event, callback))
    except Rejected as rejected:
        return answer(rejected.status, {"error": str(rejected)})


def process(event: Mapping[str, Any], callback: Callback) -> dict[str, Any]:
    raw = request_body(event)
    headers = event.get("headers") or {}
    now = callback.clock()
    if why := webhook.verify(headers, raw, callback.secrets(), now):
        raise Rejected(401, why)
    key_id = str(headers.get("x-hubrelay-key-id"))
    delivery = str(headers.get("x-hubrelay-delivery"))
    if not callback.guard.claim(key_id, delivery, now):
        raise Rejected(409, f"delivery {delivery} was already received: not processed again")
    try:
        wanted = closures(raw)
        outcome = callback.resolve(wanted)
    except (Rejected, ClientError, BotoCoreError) as error:
        callback.guard.release(key_id, delivery)
        if isinstance(error, Rejected):
            raise
        raise Rejected(502, f"Security Hub could not be read, retry: {error}"[:300]) from None
    report = outcome.report()
    if outcome.failed:
        callback.guard.release(key_id, delivery)
        raise Rejected(502, f"not every finding could be updated, retry: {outcome.failed}"[:300])
    if len(outcome.not_found) == len(wanted):
        raise Rejected(404, "; ".join(f"{k}: {v}" for k, v in outcome.not_found.items())[:500])
    return report


def answer(status: int, document: Mapping[str, Any]) -> dict[str, Any]:
    """A function URL response ("Lambda function response format", same page)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(document, sort_keys=True),
    }
