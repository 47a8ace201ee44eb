"""Webhook signatures: HMAC-SHA256 over timestamp + "." + body, as docs/webhooks.md says."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from hubrelay.destinations import webhook


def test_signature_is_hmac_sha256_of_timestamp_dot_body_in_hex():
    # Independent computation of the documented scheme.
    expected = hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    headers = webhook.signed_headers('{"a":1}', "s3cret", "d1", now=1_700_000_000)
    assert headers["X-Hubrelay-Timestamp"] == "1700000000"
    assert headers["X-Hubrelay-Signature"] == f"v1={expected}"
    assert headers["X-Hubrelay-Delivery"] == "d1"


def test_receivers_refuse_old_timestamps_and_other_secrets():
    body = '{"findings": []}'
    headers = webhook.signed_headers(body, "k", "d", now=1_000)
    assert webhook.verify("k", headers, body.encode(), now=1_200)
    assert not webhook.verify("k", headers, body.encode(), now=1_000 + 301)
    assert not webhook.verify("other", headers, body.encode(), now=1_000)
    assert not webhook.verify(
        "k", {**headers, "X-Hubrelay-Timestamp": "x"}, body.encode(), now=1_000
    )


@given(
    body=st.text(max_size=300),
    secret=st.text(min_size=1, max_size=40),
    extra=st.text(min_size=1, max_size=5),
)
def test_any_tampering_with_the_body_breaks_the_signature(body, secret, extra):
    headers = webhook.signed_headers(body, secret, "d", now=50)
    assert webhook.verify(secret, headers, body.encode(), now=50)
    assert not webhook.verify(secret, headers, (body + extra).encode(), now=50)


def test_delivery_ids_are_stable_per_idempotency_key():
    key = {"findingId": "f", "productArn": "p", "destination": "webhook", "action": "a"}
    assert webhook.delivery_id(key) == webhook.delivery_id(dict(reversed(list(key.items()))))
    assert webhook.delivery_id(key) != webhook.delivery_id({**key, "action": "b"})
