"""Verify a hubrelay webhook request: a receiver's reference, standard library only.

The scheme (docs/webhooks.md): `X-Hubrelay-Signature: v2=<hex HMAC-SHA256>` over
`<timestamp>.<delivery id>.<raw body>`, keyed by the signing secret named in
`X-Hubrelay-Key-Id`. Anything malformed (a missing, repeated, over-long or non-ASCII
header, an unknown key id, a timestamp outside the replay window) is refused: answer 401.

Run it as a receiver for a quick test: `python3 verify_webhook.py 8080 key-id=secret`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sys
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

REPLAY_WINDOW_S = 300
MAX_BODY_BYTES = 6 * 1024 * 1024
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DELIVERY = re.compile(r"[0-9a-f]{32}")
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SIGNATURE = re.compile(r"v2=([0-9a-f]{64})")


def _header(headers: Any, name: str) -> str | None:
    """The one value of a header, or None when it is missing, repeated or not text."""
    found = [value for key, value in headers.items() if str(key).lower() == name]
    if len(found) != 1 or not isinstance(found[0], str):
        return None
    return found[0]


def verify(
    headers: Any,  # a Mapping, or http.server's message (its items() keep repeats)
    raw_body: bytes,
    secrets: Mapping[str, str],
    now: float | None = None,
) -> bool:
    """Whether the request was signed by hubrelay with one of `secrets` (key id -> secret)."""
    timestamp = _header(headers, "x-hubrelay-timestamp")
    delivery = _header(headers, "x-hubrelay-delivery")
    key_id = _header(headers, "x-hubrelay-key-id")
    signature = _header(headers, "x-hubrelay-signature")
    if timestamp is None or delivery is None or key_id is None or signature is None:
        return False
    given = _SIGNATURE.fullmatch(signature)
    if not (_TIMESTAMP.fullmatch(timestamp) and _DELIVERY.fullmatch(delivery) and given):
        return False
    if not _KEY_ID.fullmatch(key_id) or key_id not in secrets:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > REPLAY_WINDOW_S:
        return False
    message = f"{timestamp}.{delivery}.".encode() + raw_body
    expected = hmac.new(secrets[key_id].encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.group(1))


class Receiver(BaseHTTPRequestHandler):
    secrets: Mapping[str, str] = {}

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self.send_response(401)
            self.end_headers()
            return
        body = self.rfile.read(int(length))
        # self.headers keeps repeated headers, which verify() refuses.
        ok = verify(self.headers, body, self.secrets)
        self.send_response(204 if ok else 401)
        self.end_headers()


if __name__ == "__main__":
    Receiver.secrets = dict(arg.split("=", 1) for arg in sys.argv[2:])
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
