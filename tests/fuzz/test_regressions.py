"""Every input that once broke a parser, replayed: tests/fixtures/fuzz/<name>.json.

Each fixture names its target (a key of harness.TARGETS), how it was found, the bug and the
fix. The replay checks the target's whole property, so the input must now be accepted or
rejected with a documented, readable error.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import FIXTURES
from tests.fuzz.harness import TARGETS

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
    TARGETS[case["target"]][0](case["input"])
