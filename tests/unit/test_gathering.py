"""The importer's gathering keeps findings as JSON text between validation and sending."""

from __future__ import annotations

import json
import tracemalloc

from hubrelay import asff, message
from hubrelay.gathering import gather
from hubrelay.quarantine import Quarantine
from hubrelay.settings import DEFAULT_MAX_MESSAGE_BYTES, MAX_FINDING_BYTES
from hubrelay_emulator import samples

PRODUCT = "arn:aws:securityhub:us-east-1:123456789012:product/hubrelay/test"


def _findings(count: int) -> list[dict]:
    return samples.for_account(count, samples.SUBSCRIBED[0], product=PRODUCT)


def test_a_message_of_one_finding_is_kept_as_its_body_and_parsed_back_equal():
    findings = _findings(3)
    bodies = [message.encode([f]) for f in findings]
    items, received = gather(
        ((f"m{i}", b) for i, b in enumerate(bodies)), MAX_FINDING_BYTES, Quarantine(2**20)
    )
    assert received == 3
    by_id = {item.finding_id: item for item in items}
    for finding, body in zip(findings, bodies, strict=True):
        item = by_id[finding["Id"]]
        assert item.text is body  # no copy of what the event holds already
        assert item.finding == finding
        assert item.size == len(json.dumps(finding))


def test_a_message_of_several_findings_keeps_each_findings_own_text():
    findings = _findings(3)
    items, _ = gather([("m0", message.encode(findings))], MAX_FINDING_BYTES, Quarantine(2**20))
    assert sorted((i.finding_id, i.text) for i in items) == sorted(
        (f["Id"], json.dumps(f)) for f in findings
    )
    assert all(i.finding == json.loads(i.text) for i in items)


def test_a_findings_size_is_read_off_its_message_without_serializing_it_again(monkeypatch):
    # Given bodies as json.dumps writes them (the collector's), one and several findings
    findings = _findings(4)
    bodies = [message.encode(findings[:1]), message.encode(findings[1:])]
    calls = []
    monkeypatch.setattr(asff, "finding_json", lambda f: calls.append(f) or json.dumps(f))
    # When the importer gathers them
    items, _ = gather(zip("ab", bodies, strict=True), MAX_FINDING_BYTES, Quarantine(2**20))
    # Then each size is the wire size, and only each message's first finding was
    # serialized (to check that the body is json.dumps' own), none to learn its size
    assert sorted(i.size for i in items) == sorted(len(json.dumps(f)) for f in findings)
    assert calls == [findings[0], findings[1]]


def test_a_text_json_dumps_would_escape_is_sized_by_serializing_the_finding():
    # Given a producer that wrote a non-ASCII title unescaped (ensure_ascii=False)
    finding = dict(_findings(1)[0], Title="Vulnérabilité 🔥")
    body = json.dumps(
        {"version": 1, "findings": [finding, finding | {"Id": "b"}]}, ensure_ascii=False
    )
    items, _ = gather([("m0", body)], MAX_FINDING_BYTES, Quarantine(2**20))
    # Then its size is what botocore sends: json.dumps escapes each character
    assert [i.size for i in items] == [
        len(json.dumps(finding)),
        len(json.dumps(finding | {"Id": "b"})),
    ]
    assert [i.finding["Title"] for i in items] == ["Vulnérabilité 🔥"] * 2


def test_gathered_findings_hold_less_memory_than_their_bodies():
    # Parsed findings took about five times their bodies' size; text (or the body itself)
    # and a few fields take a fraction (bench/memory.py measures the whole importer).
    bodies = [message.encode([f]) for f in _findings(2_000)]
    quarantine = Quarantine(DEFAULT_MAX_MESSAGE_BYTES)
    # The first finding a process validates compiles the ASFF check from botocore's model
    # (about 5 MB, kept for the process): a finding gathered before the measure keeps that
    # out of it, whichever tests ran first (tracemalloc counts only what is allocated after
    # start() and still alive at the end, so what earlier tests left does not count).
    gather([("warm-up", message.encode(_findings(1)))], MAX_FINDING_BYTES, Quarantine(2**20))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        items, _ = gather(
            ((f"m{i}", b) for i, b in enumerate(bodies)), MAX_FINDING_BYTES, quarantine
        )
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(items) == 2_000
    assert held < 0.5 * sum(len(b) for b in bodies), held
