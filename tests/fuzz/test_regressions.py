"""Every input that once broke a parser, replayed: tests/fixtures/fuzz/<name>.json.

Each fixture names its target (a key of harness.TARGETS), how it was found, the bug and the
fix. The replay checks the target's whole property, so the input must now be accepted or
rejected with a documented, readable error.
"""

from __future__ import annotations

import json

import pytest

from hubrelay import asff, message
from hubrelay.sources import scanner_reports
from tests.fuzz import hostile
from tests.fuzz.harness import TARGETS
from tests.support import FIXTURES

CASES = sorted((FIXTURES / "fuzz").glob("*.json"))


def test_there_are_regression_fixtures():
    assert len(CASES) >= 10


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_input_that_once_broke_a_parser_is_handled(path):
    case = json.loads(path.read_text())
    assert case["target"] in TARGETS
    assert case["bug"]
    assert case["fix"]
    assert case["found"]
    TARGETS[case["target"]][0](hostile.restored(case["input"]))


def test_a_trivy_result_that_cannot_be_read_makes_the_scan_incomplete():
    # Given a report whose only result holds no array of vulnerabilities (fixture above)
    case = json.loads((FIXTURES / "fuzz" / "trivy-vulnerabilities-not-an-array.json").read_text())
    # When it is read
    records, complete, errors = scanner_reports.parse_report(case["input"], "r.json", "f")
    # Then it names the field, and nothing is archived for being absent from it
    assert records == []
    assert complete == set()
    assert errors == [("r.json#Results[0].Vulnerabilities", "Vulnerabilities is not an array")]


def test_an_infinite_number_is_a_violation_and_the_other_finding_stays_valid():
    case = json.loads((FIXTURES / "fuzz" / "importer-confidence-infinity.json").read_text())
    # Python's json reads Infinity, as code that builds findings may hold it: the validator
    # names it by field.
    findings = json.loads(case["input"][0])["findings"]
    violations = asff.validate_finding(findings[0])
    assert ("Confidence", "not a finite number") in [(v.path, v.reason) for v in violations]
    assert asff.validate_finding(findings[1]) == []
    # From a queue, the loading policy refuses the message first, naming the field.
    with pytest.raises(message.MessageError, match=r"Infinity .* at findings\[0\]\.Confidence"):
        message.decode(case["input"][0])
