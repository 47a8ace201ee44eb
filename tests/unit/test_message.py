"""The queue message contract: {"version": 1, "findings": [...]}."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubrelay import asff, message
from hubrelay.delivery import Ref
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


def _nested(levels: int) -> dict[str, object]:
    """A finding whose ProductFields-like member nests `levels` containers in all."""
    value: object = "x"
    for _ in range(levels - 1):
        value = [value]
    return {"Id": "deep", "Deep": value}


def test_read_texts_gives_each_finding_its_text_as_json_dumps_writes_it(finding):
    # Given a tracked body as the collector packs it (findings, then tracking)
    findings = [dict(finding, Id=f"id-{i}", Confidence=i, Criticality=1.5) for i in range(3)]
    refs = [Ref("t#scope", f"id-{i}") for i in range(3)]
    (body,) = message.pack_messages(findings, refs=refs)
    # When it is read with its texts
    read, texts, read_refs = message.read_texts(body)
    # Then each text is the finding's wire form, and the rest is what read gives
    assert texts == [asff.finding_json(f) for f in findings]
    assert read == findings
    assert (read, read_refs) == message.read(body)
    assert read_refs == refs


@pytest.mark.parametrize(
    "layout",
    [
        {"indent": 2},
        {"separators": (",", ":")},
        {"ensure_ascii": False},
    ],
)
def test_read_texts_reads_another_producers_layout_whole(finding, layout):
    # Given a body json.dumps writes with other options than the defaults
    body = json.dumps({"version": 1, "findings": [finding, finding]}, **layout)
    findings, texts, _ = message.read_texts(body)
    # Then the findings are json.loads' (texts: those of the default layout, or none)
    assert findings == json.loads(body)["findings"]
    assert texts is None or texts == [asff.finding_json(f) for f in findings]


@pytest.mark.parametrize(
    "tail",
    [
        ', "findings": [{"Id": "second"}]}',  # json.loads keeps the last "findings"
        ', "version": 1, "findings": [{"Id": "second"}]}',
        ', "tracking": [["t#s", "a"]], "note": {"x": [1, 2.5]}}',
        "}\n",
        " }",
        ", }",  # a trailing comma: json.loads refuses it, and so does read_texts
    ],
)
def test_read_texts_gives_what_reading_the_body_whole_gives(tail):
    body = '{"version": 1, "findings": [{"Id": "first"}, {"Id": "also"}]' + tail
    try:
        document = json.loads(body)
    except json.JSONDecodeError:
        with pytest.raises(message.MessageError, match="not JSON"):
            message.read_texts(body)
        return
    findings, _, refs = message.read_texts(body)
    assert findings == document["findings"]
    assert refs == message._refs(document.get("tracking"), len(findings))


def test_read_texts_counts_the_envelope_in_the_depth_of_a_finding():
    # A finding is two levels down (the body, its findings array): 62 levels of its own
    # are within loading.MAX_DEPTH (64), 63 are not, as when the body is read whole.
    assert message.read_texts(message.encode([_nested(62)]))[0] == [_nested(62)]
    with pytest.raises(message.MessageError, match="nested too deeply"):
        message.read_texts(message.encode([_nested(63)]))


@given(
    st.lists(
        st.dictionaries(
            st.text(max_size=5),
            st.recursive(
                # What the loading policy admits: no NaN or Infinity, integers of 64 digits.
                st.none()
                | st.booleans()
                | st.integers(-(10**64) + 1, 10**64 - 1)
                | st.floats(allow_nan=False, allow_infinity=False)
                | st.text(max_size=8),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=4), inner, max_size=3)
                ),
                max_leaves=8,
            ),
            max_size=4,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_read_texts_of_any_dumped_body_is_its_findings_and_their_dumps(findings):
    body = json.dumps({"version": 1, "findings": findings})
    read, texts, _ = message.read_texts(body)
    assert read == json.loads(body)["findings"]
    assert texts == [json.dumps(f) for f in read]


def test_read_texts_gives_no_texts_when_the_findings_are_not_json_dumps_own(finding):
    # Given a body that begins as json.dumps writes one but holds compact findings
    compact = json.dumps(finding, separators=(",", ":"))
    body = '{"version": 1, "findings": [' + compact + ", " + compact + "]}"
    # Then the findings are read, but no texts are given: their sizes must be serialized
    findings, texts, _ = message.read_texts(body)
    assert findings == [finding, finding]
    assert texts is None
