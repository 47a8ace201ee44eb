"""Every parser of outside input, fuzzed: no crash, no hang, every rejection a clear error.

The harness (targets, inputs, properties) is tests/fuzz/harness.py. `make test` runs a short
pass; `make fuzz` runs 10,000 inputs per parser with a time bound on each.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given

from tests.fuzz.harness import FUZZ, LONG, STATS, TARGETS, bounded, keep_failing_input

# The long run (make fuzz) takes minutes; the short pass of `make test` does not.
pytestmark = [pytest.mark.slow] if LONG else []


def _run(name: str, value: Any) -> None:
    started = time.perf_counter()
    with bounded(), keep_failing_input(name, value):
        TARGETS[name][0](value)
    STATS.record(name, time.perf_counter() - started)


@FUZZ
@given(TARGETS["queue-message"][1])
def test_queue_message_decode_rejects_bad_bodies_with_a_reason(body):
    _run("queue-message", body)


@FUZZ
@given(TARGETS["importer"][1])
def test_importer_imports_or_quarantines_every_finding_of_any_message(bodies):
    _run("importer", bodies)


@FUZZ
@given(TARGETS["sarif"][1])
def test_sarif_reports_map_or_fail_with_a_mapping_error(document):
    _run("sarif", document)


@FUZZ
@given(TARGETS["trivy"][1])
def test_trivy_reports_map_or_fail_with_a_mapping_error(document):
    _run("trivy", document)


@FUZZ
@given(TARGETS["trivy-k8s"][1])
def test_trivy_k8s_reports_map_or_fail_with_a_mapping_error(document):
    _run("trivy-k8s", document)


@FUZZ
@given(TARGETS["grype"][1])
def test_grype_reports_map_or_fail_with_a_mapping_error(document):
    _run("grype", document)


@FUZZ
@given(TARGETS["asff"][1])
def test_asff_passthrough_and_the_validator_only_report_problems(document):
    _run("asff", document)


@FUZZ
@given(TARGETS["vendor-page"][1])
def test_vendor_pages_map_or_stop_with_a_source_error(page):
    _run("vendor-page", page)


@FUZZ
@given(TARGETS["health-eventbridge"][1])
def test_health_eventbridge_events_map_or_fail_with_a_mapping_error(event):
    _run("health-eventbridge", event)


@FUZZ
@given(TARGETS["health-api"][1])
def test_health_api_details_map_or_fail_with_a_mapping_error(pair):
    _run("health-api", pair)


@FUZZ
@given(TARGETS["eventbridge-event"][1])
def test_eventbridge_events_are_decided_with_a_reason_never_raised(event):
    _run("eventbridge-event", event)
