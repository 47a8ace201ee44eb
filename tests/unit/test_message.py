"""The queue message contract: {"version": 1, "findings": [...]}."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubrelay import message
from hubrelay.errors import PermanentError


def test_decode_returns_the_findings_of_a_valid_message(finding):
    assert message.decode(message.encode([finding, finding])) == [finding, finding]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON list, not an object"),
        ('{"findings": []}', "unsupported version None"),
        ('{"version": 2, "findings": [{}]}', "unsupported version 2"),
        ('{"version": 1, "findings": []}', "non-empty array"),
        ('{"version": 1, "findings": {"Id": "x"}}', "non-empty array"),
        ('{"version": 1, "findings": [{}, 3]}', "findings[1] is a JSON int"),
        ("[" * 100_000, "nested too deeply"),
        ('{"version": 1, "findings": [{"Confidence": ' + "9" * 401 + "}]}", "integer of 401"),
        ('{"version": 1, "findings": [{"Confidence": NaN}]}', "NaN is not a JSON number"),
    ],
)
def test_decode_names_what_is_wrong_with_a_bad_body(body, reason):
    with pytest.raises(message.MessageError, match=reason.replace("[", r"\[")):
        message.decode(body)


def test_decode_names_the_message_the_reason_and_the_path():
    body = '{"version": 1, "findings": [{"Confidence": ' + "9" * 401 + "}]}"
    with pytest.raises(message.MessageError) as caught:
        message.decode(body, what="message m-1")
    assert str(caught.value) == (
        "message m-1: integer of 401 digits (at most 64) at findings[0].Confidence"
    )
    # Retrying cannot fix it; the importer keeps it with this reason.
    assert isinstance(caught.value, PermanentError)


def test_pack_messages_fills_each_message_and_stays_under_the_limit(finding):
    findings = [dict(finding, Id=f"id-{i}") for i in range(200)]
    bodies = list(message.pack_messages(findings, max_bytes=64 * 1024))
    assert all(len(b.encode()) <= 64 * 1024 for b in bodies)
    assert [f["Id"] for b in bodies for f in message.decode(b)] == [f["Id"] for f in findings]
    one = len(message.encode([finding]).encode())
    # Each message but the last could not have taken one more finding.
    assert all(len(b.encode()) + one > 64 * 1024 for b in bodies[:-1])


def test_pack_messages_refuses_a_finding_bigger_than_a_message(finding):
    finding["Description"] = "x" * 300_000
    with pytest.raises(message.MessageError, match="over the 262144-byte message limit"):
        list(message.pack_messages([finding]))


@given(st.lists(st.integers(min_value=0, max_value=20_000), min_size=1, max_size=60))
def test_packed_messages_round_trip_in_order(sizes):
    findings = [{"Id": str(i), "Pad": "x" * size} for i, size in enumerate(sizes)]
    bodies = list(message.pack_messages(findings, max_bytes=32 * 1024))
    assert [f for b in bodies for f in message.decode(b)] == findings
    assert all(len(b.encode()) <= 32 * 1024 or len(json.loads(b)["findings"]) == 1 for b in bodies)
