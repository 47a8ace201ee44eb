"""The compiled validator accepts a finding only when botocore and the model walk would."""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hubrelay import asff
from hubrelay_emulator import samples
from tests import support

PRODUCT = "arn:aws:securityhub:us-east-1:123456789012:product/hubrelay/test"


def slow_violations(finding: dict[str, Any]) -> list[asff.Violation]:
    """What the uncompiled rules (ParamValidator, then the model walk) say."""
    out = asff._botocore_violations(finding, "x")
    asff._walk(finding, asff.finding_shape(), "", "", "x", out)
    return out


def valid_findings() -> list[dict[str, Any]]:
    found = samples.mixed(60, product=PRODUCT)
    found += support.load_fixture("sources/trivy_asff.json")["Findings"]
    return found


BAD_VALUES: list[Any] = [
    None,
    "",
    "   ",
    "x" * 40_000,
    5,
    5.5,
    float("nan"),
    True,
    -1,
    101,
    [],
    ["a"],
    {},
    {"k": "v"},
    ("a",),
    "2026-13-01T00:00:00Z",
]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*path, index))
    return out


def _set(finding: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(finding)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


def test_every_valid_sample_is_accepted_by_the_compiled_check():
    for finding in valid_findings():
        assert slow_violations(finding) == []
        assert asff._accepts()(finding), finding["Id"]


def test_the_compiled_check_never_accepts_what_botocore_or_the_walk_refuses():
    # Given every field of valid findings set, one at a time, to values of the wrong type,
    # length, range or form, and unknown members added
    rng = random.Random(14)
    checked = refused = 0
    for finding in valid_findings()[:12]:
        paths = _paths(finding)
        for path in rng.sample(paths, min(len(paths), 40)):
            for value in BAD_VALUES:
                mutated = _set(finding, path, value)
                accepted = asff._accepts()(mutated)
                slow = slow_violations(mutated)
                # Then whatever the compiled check accepts, the slow rules accept too
                assert not (accepted and slow), (path, value, slow[:2])
                checked += 1
                refused += bool(slow)
        unknown = {**finding, "NotAMember": "x"}
        assert slow_violations(unknown)
        assert not asff._accepts()(unknown)
    assert checked > 1000
    assert refused > 500


def test_a_refused_finding_gets_the_same_messages_as_before():
    # Given the broken samples (each with its reason)
    for _, finding in samples.broken(product=PRODUCT):
        # Then validate_finding's violations are the slow rules' own, then the table's
        got = asff.validate_finding(finding)
        fid = str(finding["Id"])
        expected = asff._botocore_violations(finding, fid)
        asff._walk(finding, asff.finding_shape(), "", "", fid, expected)
        assert got[: len(expected)] == expected
        assert got


def test_the_compiled_check_refuses_an_integer_loading_refuses_and_accepts_one_under_it():
    # Given a valid finding with an integer field the model does not bound (Process.Pid)
    finding = valid_findings()[0]
    largest = 10**64 - 1  # 64 digits: hubrelay.loading's most
    for value, ok in (
        (largest, True),
        (-largest, True),
        (largest + 1, False),
        (-largest - 1, False),
    ):
        changed = {**finding, "Process": {"Pid": value}}
        # Then the compiled check accepts it exactly when loading's policy does
        assert bool(asff._accepts()(changed)) is ok, value
        violations = asff.validate_finding(changed)
        if ok:
            assert violations == []
        else:
            # and a refused one gets loading's message alone, as before the compiled check
            assert [(v.path, v.reason) for v in violations] == [
                ("Process.Pid", "integer of 65 digits (at most 64)")
            ]


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(min_size=1, max_size=200).filter(str.strip),
    key=st.text(min_size=1, max_size=20).filter(str.strip),
    number=st.integers(min_value=-(10**64) + 1, max_value=10**64 - 1),
    index=st.integers(min_value=0, max_value=59),
)
def test_what_the_compiled_check_accepts_is_never_larger_than_its_bound(text, key, number, index):
    # Given a valid finding with any text (astral characters, controls, quotes) in free-text
    # fields and map keys, and any integer loading lets through
    finding = copy.deepcopy(valid_findings()[index])
    finding["Title"] = text
    finding["Description"] = text * 5
    finding["ProductFields"] = {**finding.get("ProductFields", {}), key: text}
    finding["Process"] = {"Pid": number, "Name": text}
    bound = asff._accepts()(finding)
    # Then, accepted, its size in json.dumps is within the bound the check gives for it
    assert bound
    assert asff.finding_size(finding) <= bound
    # and at 240 KB a finding the bound cannot clear is measured: the limit still holds
    (violation,) = asff.validate_finding(finding, max_finding_bytes=bound - 1) or [None]
    size = asff.finding_size(finding)
    assert (violation is None) is (size <= bound - 1)
