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
    finding["Description"] = "x" * 1_100_000
    with pytest.raises(message.MessageError, match="over the 1048576-byte message limit"):
        list(message.pack_messages([finding]))


def test_pack_messages_holds_one_call_of_one_account_and_product_per_message(finding):
    # Findings of two accounts, interleaved: each message holds one account's findings,
    # at most the 100 of one BatchImportFindings call, so whole messages fill whole calls.
    findings = [
        dict(finding, Id=f"id-{i}", AwsAccountId=("111111111111", "222222222222")[i % 2])
        for i in range(450)
    ]
    bodies = [message.decode(b) for b in message.pack_messages(findings)]
    assert [len(b) for b in bodies] == [100, 100, 100, 100, 25, 25]
    assert all(len({f["AwsAccountId"] for f in b}) == 1 for b in bodies)
    assert sorted(f["Id"] for b in bodies for f in b) == sorted(f["Id"] for f in findings)
    # In order within each account.
    for account in ("111111111111", "222222222222"):
        ids = [f["Id"] for b in bodies for f in b if f["AwsAccountId"] == account]
        assert ids == [f["Id"] for f in findings if f["AwsAccountId"] == account]


def test_pack_messages_reorders_only_when_it_saves_a_message():
    # In order, 20k 20k 10k 10k take three 32 KiB messages; two suffice: 20k+10k twice.
    findings = [
        {"Id": str(i), "Pad": "x" * size} for i, size in enumerate([20_000] * 2 + [10_000] * 2)
    ]
    bodies = [message.decode(b) for b in message.pack_messages(findings, max_bytes=32 * 1024)]
    assert [[f["Id"] for f in b] for b in bodies] == [["0", "2"], ["1", "3"]]


@given(st.lists(st.integers(min_value=0, max_value=20_000), min_size=1, max_size=60))
def test_packed_messages_round_trip_in_order(sizes):
    findings = [{"Id": str(i), "Pad": "x" * size} for i, size in enumerate(sizes)]
    bodies = list(message.pack_messages(findings, max_bytes=32 * 1024))
    decoded = [message.decode(b) for b in bodies]
    # Every finding once, in order within each message, and in order overall unless
    # another order takes fewer messages.
    assert sorted((f for b in decoded for f in b), key=lambda f: int(f["Id"])) == findings
    assert all([int(f["Id"]) for f in b] == sorted(int(f["Id"]) for f in b) for b in decoded)
    assert all(len(b.encode()) <= 32 * 1024 or len(json.loads(b)["findings"]) == 1 for b in bodies)
