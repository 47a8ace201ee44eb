"""hubrelay.loading: the one policy for JSON from outside (depth, integers, NaN, UTF-8)."""

from __future__ import annotations

import inspect
import json
import sys
from typing import Any

import pytest

from hubrelay import loading
from hubrelay.errors import PermanentError
from tests.support import FIXTURES, load_fixture, nested


def refused(data: str | bytes, what: str = "message m-1") -> loading.LoadError:
    with pytest.raises(loading.LoadError) as caught:
        loading.load_json(data, what=what)
    return caught.value


def test_a_401_digit_integer_is_refused_naming_the_record_size_and_path():
    error = refused('{"version": 1, "findings": [{"Confidence": ' + "9" * 401 + "}]}")
    assert str(error) == (
        "message m-1: integer of 401 digits (at most 64) at findings[0].Confidence"
    )
    assert (error.kind, error.path) == ("integer", "findings[0].Confidence")


@pytest.mark.parametrize(
    ("number", "ok"),
    [("9" * 64, True), ("-" + "9" * 64, True), ("1" + "0" * 64, False), ("-" + "9" * 65, False)],
)
def test_integers_up_to_64_digits_are_read_and_longer_ones_refused(number, ok):
    text = f'{{"n": {number}}}'
    if ok:
        assert loading.load_json(text, what="x") == {"n": int(number)}
    else:
        assert refused(text).kind == "integer"


def test_integers_past_pythons_own_4300_digit_limit_are_refused_not_crashed():
    assert "integer of 100000 digits" in str(refused("[" + "7" * 100_000 + "]"))


@pytest.mark.parametrize(
    ("text", "reason", "path"),
    [
        ('{"a": NaN}', "NaN is not a JSON number", "a"),
        ('{"a": [0, Infinity]}', "Infinity is not a JSON number", "a[1]"),
        ('{"a": {"b": -Infinity}}', "-Infinity is not a JSON number", "a.b"),
        ('{"a": 1e400}', "number 1e400 is beyond the range of a double", "a"),
        ("[-1e999]", "number -1e999 is beyond the range of a double", "[0]"),
    ],
)
def test_nan_infinity_and_overflowing_numbers_are_refused(text, reason, path):
    error = refused(text)
    assert (error.kind, error.reason, error.path) == ("number", reason, path)


def test_nesting_up_to_64_levels_is_read_and_65_refused():
    assert loading.load_json("[" * 64 + "]" * 64, what="x") == nested(64)
    error = refused("[" * 65 + "]" * 65)
    assert (error.kind, str(error)) == (
        "depth",
        "message m-1: nested too deeply (more than 64 levels)",
    )


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, "[" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000],
    ids=["arrays", "unclosed", "objects"],
)
def test_a_100000_deep_document_is_refused_without_recursion(text):
    # Room for 30 more frames, fewer than the policy's depth: a recursive check would fail.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 30)
    try:
        error = refused(text)
    finally:
        sys.setrecursionlimit(limit)
    assert error.kind == "depth"


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"title": "[" * 5000, "escaped": '\\"[{' * 100, "ok": [[["x"]]]})
    assert loading.load_json(text, what="x")["ok"] == [[["x"]]]


@pytest.mark.parametrize(
    ("data", "byte"),
    [
        (b'{"a": "\xff"}', 7),
        (b'{"a": "caf\xc3"}', 10),
        (b'{"a": "\xed\xa0\x80"}', 7),  # a lone surrogate, which 'surrogatepass' would read
        (b'{"a": "\xc0\xaf"}', 7),  # an overlong "/"
    ],
)
def test_invalid_utf8_is_refused_with_its_byte_offset(data, byte):
    error = refused(data, what="report s3://reports/r.json")
    assert error.kind == "encoding"
    assert str(error).startswith("report s3://reports/r.json: not valid UTF-8 (")
    assert str(error).endswith(f"at byte {byte}")


def test_utf8_with_a_byte_order_mark_and_utf16_are_read_as_json_reads_bytes():
    document = {"title": "caf\u00e9 \u2713"}
    text = json.dumps(document, ensure_ascii=False)
    assert loading.load_json(b"\xef\xbb\xbf" + text.encode(), what="x") == document
    assert loading.load_json(text.encode("utf-16"), what="x") == document


def test_syntax_errors_name_the_record_and_the_position():
    error = refused("{not json", what="scan.json")
    assert error.kind == "syntax"
    assert str(error) == (
        "scan.json: not JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)"
    )


def test_duplicate_keys_are_read_as_json_allows_the_last_one_wins():
    assert loading.load_json('{"a": 1, "a": 2}', what="x") == {"a": 2}


def test_the_error_is_permanent_and_a_value_error():
    error = refused("[NaN]")
    assert isinstance(error, PermanentError)
    assert isinstance(error, ValueError)
    assert error.transient is False


@pytest.mark.parametrize(
    "name",
    [
        "sources/sarif_multi_run.sarif.json",
        "sources/trivy_image.json",
        "sources/grype_image.json",
        "sources/vendor_findings.json",
        "sources/health_eventbridge.json",
        "findings/valid.json",
    ],
)
def test_every_sample_input_is_read_as_json_reads_it(name):
    data = (FIXTURES / name).read_bytes()
    assert loading.load_json(data, what=name) == load_fixture(name)


def test_a_large_valid_document_is_read_whole():
    # 5,000 findings (about 6 MB), numbers of every legitimate kind and size.
    finding = load_fixture("findings/valid.json")
    finding["Severity"]["Normalized"] = 70
    finding["Severity"]["Product"] = 7.5
    finding["ProductFields"] = {"size": "1"}
    finding["Resources"][0]["Details"] = {
        "AwsEc2Volume": {"Size": 2**63 - 1, "Encrypted": True},
        "Other": {"ratio": "0.25"},
    }
    document = {"version": 1, "findings": [dict(finding, Id=f"f-{i}") for i in range(5_000)]}
    text = json.dumps(document)
    assert len(text) > 5_000_000
    assert loading.load_json(text, what="x") == document


# --- the same policy for values parsed elsewhere --------------------------------------


@pytest.mark.parametrize(
    ("value", "reason", "path"),
    [
        ({"detail": {"findings": [{"Confidence": 10**400}]}}, "integer of 401 digits", "detail"),
        ({"x": [float("nan")]}, "NaN is not a JSON number", "x[0]"),
        ({"x": float("-inf")}, "-Infinity is not a JSON number", "x"),
        (10**5000, "integer of 5001 digits", ""),
    ],
    ids=["401-digits", "nan", "minus-infinity", "5001-digits-alone"],
)
def test_check_value_refuses_what_load_json_refuses(value, reason, path):
    with pytest.raises(loading.LoadError) as caught:
        loading.check_value(value, what="event")
    assert caught.value.reason.startswith(reason)
    assert caught.value.path.startswith(path)


def test_check_value_walks_100000_levels_and_a_cycle_without_recursion():
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    for value in (nested(100_000), {"a": nested(64)}, cycle):
        with pytest.raises(loading.LoadError, match="nested too deeply"):
            loading.check_value(value, what="event")
    loading.check_value(nested(64), what="event")


def test_check_value_accepts_what_json_gives_within_the_policy():
    loading.check_value(load_fixture("events/custom-action-multi.json"), what="event")
    loading.check_value({"n": -(10**63), "f": 1e308, "b": True, "s": "x" * 10_000}, what="e")


def test_structure_problem_leaves_non_finite_floats_to_the_caller():
    assert loading.structure_problem({"a": float("inf")}) is None
    assert loading.structure_problem({"a": [10**64]}) == (
        "integer of 65 digits (at most 64)",
        "a[0]",
    )
