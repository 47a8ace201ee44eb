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
