"""Webhook signatures, as docs/webhooks.md states them: HMAC-SHA256 over
timestamp + "." + delivery id + "." + body, with the key id in its own header; and the
receivers' reference verifiers (examples/webhook-receivers/, Python and Node.js) refusing
every malformed header."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubrelay.destinations import webhook
from hubrelay_emulator.webhook_verifier import SAMPLE, verify

DELIVERY = "0123456789abcdef0123456789abcdef"
SECRETS = {"default": "s3cret", "2026-12": "next-secret"}
NOW = 1_700_000_000


def signed(
    body: str = '{"a":1}', secret: str = SECRETS["default"], key_id: str = "default"
) -> dict[str, str]:
    return webhook.signed_headers(body, secret, DELIVERY, key_id, now=NOW)


def test_signature_is_hmac_sha256_of_timestamp_delivery_and_body_in_hex():
    # Independent computation of the documented scheme.
    message = f'{NOW}.{DELIVERY}.{{"a":1}}'.encode()
    expected = hmac.new(b"s3cret", message, hashlib.sha256).hexdigest()
    headers = signed()
    assert headers["X-Hubrelay-Timestamp"] == str(NOW)
    assert headers["X-Hubrelay-Signature"] == f"v2={expected}"
    assert headers["X-Hubrelay-Delivery"] == DELIVERY
    assert headers["X-Hubrelay-Key-Id"] == "default"


def test_receivers_refuse_old_timestamps_other_secrets_and_moved_delivery_ids():
    body = b'{"a":1}'
    assert verify(signed(), body, SECRETS, now=NOW + 200)
    assert not verify(signed(), body, SECRETS, now=NOW + 301)
    assert not verify(signed(), body, {"default": "other"}, now=NOW)
    # The same body and signature under another delivery id is refused.
    moved = {**signed(), "X-Hubrelay-Delivery": "f" * 32}
    assert not verify(moved, body, SECRETS, now=NOW)
    # A rotated secret is found by its key id.
    assert verify(signed(secret="next-secret", key_id="2026-12"), body, SECRETS, now=NOW)


@given(
    body=st.text(max_size=300),
    secret=st.text(min_size=1, max_size=40),
    extra=st.text(min_size=1, max_size=5),
)
def test_any_tampering_with_the_body_breaks_the_signature(body, secret, extra):
    headers = signed(body, secret)
    assert verify(headers, body.encode(), {"default": secret}, now=NOW)
    assert not verify(headers, (body + extra).encode(), {"default": secret}, now=NOW)


def test_delivery_ids_are_stable_per_idempotency_key():
    key = {"findingId": "f", "productArn": "p", "destination": "webhook", "action": "a"}
    assert webhook.delivery_id(key) == webhook.delivery_id(dict(reversed(list(key.items()))))
    assert webhook.delivery_id(key) != webhook.delivery_id({**key, "action": "b"})


def hostile_cases() -> list[tuple[str, Any]]:
    good = signed()
    signature = good["X-Hubrelay-Signature"]
    cases: list[tuple[str, Any]] = [
        (f"no {name}", {k: v for k, v in good.items() if k != name})
        for name in (
            "X-Hubrelay-Timestamp",
            "X-Hubrelay-Signature",
            "X-Hubrelay-Delivery",
            "X-Hubrelay-Key-Id",
        )
    ]
    replaced = {
        "X-Hubrelay-Timestamp": [
            "",
            "x",
            "-1",
            "1e9",
            " 1700000000",
            "1" * 40,
            "\uff11\uff17\uff10\uff10",
        ],
        "X-Hubrelay-Signature": [
            "",
            "v1=" + signature[3:],
            "v2=",
            signature.upper(),
            signature + ",v2=" + "0" * 64,
            signature[:-1],
            "v2=" + "g" * 64,
            signature + "\n",
        ],
        "X-Hubrelay-Delivery": ["", "x" * 32, DELIVERY + "0", "../../etc/passwd"],
        "X-Hubrelay-Key-Id": [
            "",
            "unknown",
            "default ",
            "a" * 65,
            "__proto__",
            "constructor",
            "déf",
        ],
    }
    for name, values in replaced.items():
        cases += [(f"{name}={value!r}", {**good, name: value}) for value in values]
    cases.append(("a repeated signature", [*good.items(), ("X-Hubrelay-Signature", signature)]))
    cases.append(("a header that is not text", {**good, "X-Hubrelay-Timestamp": 1700000000}))
    return cases


HOSTILE = hostile_cases()


@pytest.mark.parametrize(("name", "headers"), HOSTILE, ids=[n for n, _ in HOSTILE])
def test_the_python_verifier_refuses_every_malformed_header(name, headers):
    pairs = _Pairs(headers) if isinstance(headers, list) else headers
    assert verify(signed(), b'{"a":1}', SECRETS, now=NOW)
    assert not verify(pairs, b'{"a":1}', SECRETS, now=NOW), name


@pytest.mark.parametrize(("name", "headers"), HOSTILE, ids=[n for n, _ in HOSTILE])
def test_the_status_callbacks_verifier_refuses_every_malformed_header(name, headers):
    # hubrelay's own verifier (the status callback's, docs/webhooks.md): the same rules as
    # the receivers' sample, with a one-line reason.
    pairs = _Pairs(headers) if isinstance(headers, list) else headers
    assert webhook.verify(signed(), b'{"a":1}', SECRETS, now=NOW) is None
    why = webhook.verify(pairs, b'{"a":1}', SECRETS, now=NOW)
    assert why, name
    assert "\n" not in why
    assert SECRETS["default"] not in why


def test_the_status_callbacks_verifier_agrees_with_the_sample_on_time_and_body():
    body = b'{"a":1}'
    for now, moved in ((NOW + 300, body), (NOW + 301, body), (NOW, body + b" ")):
        assert (webhook.verify(signed(), moved, SECRETS, now=now) is None) == verify(
            signed(), moved, SECRETS, now=now
        )


class _Pairs:
    """Headers with a repeat, as http.server's message holds them."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs

    def items(self) -> list[tuple[str, Any]]:
        return self.pairs


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_the_node_verifier_agrees_with_hubrelay_and_refuses_every_malformed_header():
    # Node's http module lowercases names and joins a repeated header with ", ".
    def as_node(headers: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in headers if isinstance(headers, list) else headers.items():
            key = key.lower()
            out[key] = f"{out[key]}, {value}" if key in out else value
        return out

    cases = [as_node(signed()), *(as_node(h) for _, h in HOSTILE)]
    script = (
        "const { verify } = require(process.argv[1]);"
        "let input = ''; process.stdin.on('data', (d) => (input += d));"
        "process.stdin.on('end', () => { const { cases, secrets, now } = JSON.parse(input);"
        "const body = Buffer.from('{\"a\":1}');"
        "console.log(JSON.stringify(cases.map((h) => verify(h, body, secrets, now)))); });"
    )
    done = subprocess.run(
        [str(NODE), "-e", script, str(Path(SAMPLE) / "verify-webhook.js")],
        input=json.dumps({"cases": cases, "secrets": SECRETS, "now": NOW}),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    results = json.loads(done.stdout)
    assert results[0] is True
    refused = [name for (name, _), ok in zip(HOSTILE, results[1:], strict=True) if ok]
    assert refused == []


def test_the_documented_status_callback_signature_is_what_hubrelay_computes():
    page = (Path(SAMPLE).parents[1] / "docs" / "webhooks.md").read_text(encoding="utf-8")
    section = page.split("## Status callback", 1)[1]
    body = section.split("```json\n", 1)[1].split("\n```", 1)[0]
    expected = webhook.signature(
        "example-signing-secret", "1764740100", "8f14e45fceea167a5a36dedd4bea2543", body
    )
    assert f"X-Hubrelay-Signature: {expected}" in section
    headers = {
        "x-hubrelay-timestamp": "1764740100",
        "x-hubrelay-delivery": "8f14e45fceea167a5a36dedd4bea2543",
        "x-hubrelay-key-id": "default",
        "x-hubrelay-signature": expected,
    }
    secrets = {"default": "example-signing-secret"}
    assert webhook.verify(headers, body.encode(), secrets, now=1764740100) is None
