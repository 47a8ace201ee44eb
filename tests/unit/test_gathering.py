"""The importer's gathering keeps findings as JSON text between validation and sending."""

from __future__ import annotations

import json
import tracemalloc

from hubrelay import message
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
