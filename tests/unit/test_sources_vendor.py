"""The vendor mapping reads each field as jmespath would."""

from __future__ import annotations

import json
from typing import Any

import jmespath
from hypothesis import given, settings
from hypothesis import strategies as st

from hubrelay.sources.vendor_api import FINDING_FIELDS, VendorMapping

KEYS = st.sampled_from(["a", "b", "id", "x y"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=12,
)
# Chains of fields (read without the interpreter) and expressions that are not (read by it).
EXPRESSIONS = [
    "a",
    "a.b",
    "a.b.id",
    '"x y".a',
    "a[0]",
    "a || b",
    "[a, b]",
    "{k: a.b}",
    "a.b == `1`",
    "a.*",
]


def mapping(expression: str) -> VendorMapping:
    fields = dict.fromkeys(FINDING_FIELDS, "id") | {"title": expression}
    return VendorMapping.parse(json.dumps({"finding": fields}), "test")


@settings(max_examples=300, deadline=None)
@given(record=JSON, expression=st.sampled_from(EXPRESSIONS))
def test_a_mapping_field_gives_what_jmespath_search_gives(record: Any, expression: str):
    assert mapping(expression).get("title", record) == jmespath.search(expression, record)


def test_a_field_the_mapping_leaves_out_reads_as_nothing():
    fields = {"id": "id", "title": "title", "resources": "r"}
    spec = VendorMapping.parse(json.dumps({"finding": fields}), "test")
    assert spec.get("description", {"description": "x"}) is None


# Every node type hubrelay.sources.jmes compiles, and some it leaves to the interpreter
# (projections, filters, functions, slices, flatten), inside compiled ones.
COMPILED = [
    *EXPRESSIONS,
    "@",
    "a[-1]",
    "a[0].b",
    "a | b",
    "a && b",
    "a && b || id",
    "!a",
    "!a.b",
    "a == b",
    "a != `true`",
    "a < b",
    "a >= `1`",
    "id > 'a'",
    "`[1, 2]`",
    "'lit'",
    "[a, {b: b, c: [id, `0`]}]",
    "a.{k: b, l: id}",
    "a && {V: [{I: id || a[0], C: [{S: b, T: 'x'}]}]}",
    "a[*].b",
    "a[?b == `1`].id",
    "length(a)",
    "a[0:2]",
    "a[]",
    "{k: a[*].b, n: !id}",
]


@settings(max_examples=600, deadline=None)
@given(record=JSON, expression=st.sampled_from(COMPILED))
def test_a_compiled_expression_gives_exactly_what_jmespath_gives(record: Any, expression: str):
    searched, compiled = mapping(expression), jmespath.compile(expression)
    assert _outcome(searched.get, "title", record) == _outcome(compiled.search, record)


def _outcome(search: Any, *args: Any) -> str:
    """The result as JSON text (true and 1 differ), or the error jmespath raised (a
    function's wrong argument type, an int compared with a string)."""
    try:
        return json.dumps(search(*args))
    except (jmespath.exceptions.JMESPathError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
