"""Fuzzing the receivers' reference verifier (examples/webhook-receivers/verify_webhook.py)
with hostile headers: whatever the headers hold, verify() answers False (a 401), never
raises, and accepts only what hubrelay signed."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from hubrelay.destinations import webhook
from hubrelay_emulator.webhook_verifier import verify
from tests.fuzz.harness import FUZZ, STATS, bounded

NOW = 1_700_000_000
SECRETS = {"default": "s3cret"}
NAMES = ["X-Hubrelay-Timestamp", "X-Hubrelay-Signature", "X-Hubrelay-Delivery", "X-Hubrelay-Key-Id"]
values = st.one_of(
    st.text(max_size=120),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=10), max_size=3),
)


@given(
    replaced=st.dictionaries(st.sampled_from(NAMES), values, max_size=4),
    dropped=st.sets(st.sampled_from(NAMES), max_size=4),
    repeated=st.lists(st.tuples(st.sampled_from(NAMES), st.text(max_size=80)), max_size=3),
    body=st.binary(max_size=200),
)
@FUZZ
def test_hostile_headers_are_refused_and_never_crash(replaced, dropped, repeated, body):
    signed = webhook.signed_headers(
        body.decode("latin-1"), "s3cret", "0123456789abcdef0123456789abcdef", now=NOW
    )
    headers = {k: v for k, v in signed.items() if k not in dropped} | replaced
    pairs = [*headers.items(), *repeated]

    class Received:
        def items(self) -> list[tuple[str, object]]:
            return pairs

    started = time.perf_counter()
    with bounded():
        ok = verify(Received(), body.decode("latin-1").encode(), SECRETS, now=NOW)
    STATS.record("webhook-headers", time.perf_counter() - started)
    untouched = (
        not dropped and not repeated and all(signed.get(k) == v for k, v in replaced.items())
    )
    assert ok is untouched
