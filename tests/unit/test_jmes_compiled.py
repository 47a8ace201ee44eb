"""The generated functions of hubrelay.sources.jmes give exactly what jmespath gives
(test_sources_vendor.py checks fixed expressions through VendorMapping; these are drawn).

Random expressions of every node type jmes compiles (fields, sub- and index expressions,
pipes, literals, @, multi-selects, or/and/not, comparators) with, inside them, the ones it
leaves to the interpreter (projections, slices, flatten, filters, functions), on random
records: the same value of the same types, or the same error. Also the all-fields
function, nesting deeper than one generated function holds, and that nothing from the
mapping is ever written into the source given to exec.
"""

from __future__ import annotations

import builtins
import io
import json
import re
import sys
import tokenize
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import jmespath
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hubrelay.sources import jmes

NAMES = st.sampled_from(["a", "b", "id", "x y"])
TEXTS = st.sampled_from(["", "a", "0", "x y"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-2, 3)
    | st.floats(-2, 2)
    | st.sampled_from([0.0, 1.0, -0.0])
    | TEXTS
)
OPERATORS = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
# Functions and their number of arguments; *_by take an expression reference second.
FUNCTIONS = st.sampled_from(
    [
        *[(f, 1) for f in ("length", "type", "to_string", "to_number", "keys", "values")],
        *[(f, 1) for f in ("abs", "reverse", "sort", "max", "sum", "to_array", "not_null")],
        *[(f, 2) for f in ("contains", "starts_with", "not_null", "merge", "join")],
        *[(f, 2) for f in ("sort_by", "max_by", "min_by")],
    ]
)


def records(names: st.SearchStrategy[str], scalars: st.SearchStrategy[Any]) -> Any:
    """Mostly objects with the keys expressions ask for, so that fields find something; some
    are a dict subclass (jmes reads an exact dict by a path of its own)."""

    def objects(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        drawn = st.dictionaries(names, values, max_size=4)
        return drawn | drawn.map(OrderedDict)

    values = st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=3) | objects(inner), max_leaves=10
    )
    return objects(values) | values


def identifier(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else json.dumps(name)


def literal(value: Any) -> str:
    # json never escapes a backtick; jmespath's lexer reads \` as one.
    return "`" + json.dumps(value).replace("`", "\\`") + "`"


COMPILED_FORMS = ["field", "index", "pipe", "or", "and", "not", "compare"]
COMPILED_FORMS += ["list", "dict", "sub list", "sub dict"]
INTERPRETED_FORMS = ["projection", "filter", "function"]
JOINERS = {"pipe": "|", "or": "||", "and": "&&"}
PROJECTIONS = ["[*]", "[]", ".*", "[*].*", "[::-1]", "[1:]", "[:2]", "[-2::2]", "[*].a"]


def expressions(
    names: st.SearchStrategy[str],
    texts: st.SearchStrategy[str],
    values: st.SearchStrategy[Any],
) -> st.SearchStrategy[str]:
    """JMESPath text of up to ~16 nodes, every composite part in parentheses (its tree is
    what was drawn); most nodes are of the types jmes compiles, some are not, inside them."""
    field = names.map(identifier)
    leaf = field | values.map(literal) | texts.map(lambda t: f"'{t}'") | st.just("@")
    forms = st.sampled_from(COMPILED_FORMS * 2 + INTERPRETED_FORMS)

    @st.composite
    def text(draw: st.DrawFn, budget: int) -> str:
        if budget <= 1:
            return draw(leaf)
        form = draw(forms)
        rest = budget - 1

        def many(n: int) -> list[str]:
            return [f"({draw(text(max(rest // n, 1)))})" for _ in range(n)]

        width = draw(st.integers(1, 3))
        if form == "field":
            return f"{many(1)[0]}.{draw(field)}"
        if form == "index":
            return f"{many(1)[0]}[{draw(st.integers(-3, 3))}]"
        if form in ("pipe", "or", "and"):
            left, right = many(2)
            return f"{left} {JOINERS[form]} {right}"
        if form == "not":
            return f"!{many(1)[0]}"
        if form == "compare":
            left, right = many(2)
            return f"{left} {draw(OPERATORS)} {right}"
        if form in ("list", "sub list"):
            selected = f"[{', '.join(many(width))}]"
        elif form in ("dict", "sub dict"):
            keys = [draw(field) for _ in range(width)]
            selected = (
                "{" + ", ".join(f"{k}: {e}" for k, e in zip(keys, many(width), strict=True)) + "}"
            )
        elif form == "projection":
            return many(1)[0] + draw(st.sampled_from(PROJECTIONS))
        elif form == "filter":
            listed, condition = many(2)
            return f"{listed}[?{condition}]"
        else:
            name, n = draw(FUNCTIONS)
            arguments = many(n)
            if name.endswith("_by"):
                arguments[1] = "&" + arguments[1]
            return f"{name}({', '.join(arguments)})"
        return f"{many(1)[0]}.{selected}" if form.startswith("sub") else selected

    return st.integers(1, 16).flatmap(text)


JSON = records(NAMES, SCALARS)
EXPRESSIONS = expressions(NAMES, TEXTS, JSON)


def typed(value: Any) -> Any:
    """`value` with every type spelled out: true is not 1, 1.0 is not 1, -0.0 is not 0.0."""
    if type(value) is dict:
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    if type(value) is list:
        return ("list", [typed(v) for v in value])
    return (type(value).__name__, repr(value))


def outcome(search: Callable[[Any], Any], value: Any) -> Any:
    try:
        return typed(search(value))
    except Exception as exc:  # jmespath's own errors, and TypeError ('a' < 1)
        return ("raised", type(exc).__name__, str(exc))


def library(expression: str) -> Callable[[Any], Any]:
    """The reference: jmespath's own search, a TreeInterpreter of its own each call."""
    search: Callable[[Any], Any] = jmespath.compile(expression).search
    return search


@settings(max_examples=300, deadline=None)
@given(record=JSON, expression=EXPRESSIONS)
@example(record={"a": 0}, expression="!(a)")
@example(record={"a": 0.0}, expression="!(a)")
@example(record={"a": 1}, expression="(a) == `true`")
@example(record={"a": False}, expression="(a) != `0`")
@example(record={"a": 1}, expression="(a) < 'b'")
@example(record={"a": True}, expression="(a) >= `0`")
@example(record={"a": 0}, expression="(a) || (b)")
@example(record={"a": []}, expression="(a) && (b)")
@example(record=[1, 2], expression="(@)[-1]")
@example(record="ab", expression="(@).a")
@example(record=None, expression="{k: (a)}.k")
@example(record={"a": [{"b": 1}, {"b": 2}]}, expression="length((a)[*].b)")
@example(record={"a": 1}, expression="length((a))")
def test_a_compiled_expression_gives_exactly_what_jmespath_gives(record: Any, expression: str):
    compiled = jmes.compile_node(jmespath.compile(expression).parsed)
    assert outcome(compiled, record) == outcome(library(expression), record)


FIELD_NAMES = st.text(max_size=4)


@settings(max_examples=150, deadline=None)
@given(
    record=JSON,
    fields=st.dictionaries(FIELD_NAMES, st.none() | EXPRESSIONS, min_size=1, max_size=6),
)
def test_the_all_fields_function_gives_each_field_what_its_own_search_gives(
    record: Any, fields: dict[str, str | None]
):
    read = jmes.compile_fields(
        {name: jmespath.compile(text).parsed if text else None for name, text in fields.items()}
    )
    # Fields are read in order: the first one to raise is the call's error.
    each = [
        (name, outcome(library(text), record) if text else typed(None))
        for name, text in fields.items()
    ]
    errors = [one for _, one in each if one[0] == "raised"]
    wanted = errors[0] if errors else ("dict", [(typed(name), one) for name, one in each])
    assert outcome(read, record) == wanted


# Shapes nested `depth` times, with the blocks (if/else in the generated source) each level
# adds: multi-selects and junctions nest blocks, the rest only Python recursion.
NESTINGS = {
    "{a: %s}": 1,
    "[%s]": 1,
    "[a, %s]": 1,
    "(a || %s)": 1,
    "(a && %s)": 1,
    "{k: [a.b, (id && %s)], l: b}": 3,
    "!%s": 0,
    "(%s).a": 0,
    "(%s)[0]": 0,
}
# Up to 300 blocks: as deep as jmespath's parser goes (~330 selects, ~250 junctions).
DEEP = [
    (nesting, depth)
    for nesting, blocks in NESTINGS.items()
    for depth in [13, 14, jmes.MAX_DEPTH - 1, jmes.MAX_DEPTH + 1, 100, 200, 300]
    if depth * max(blocks, 1) <= 300
]
DEEP_RECORDS = [{"a": [], "b": 1, "id": 1}, {"a": {"a": [0], "b": 2}, "b": 1, "id": 0}]


@contextmanager
def recursion_limit(limit: int) -> Iterator[None]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@pytest.mark.parametrize(("nesting", "depth"), DEEP)
def test_an_expression_nested_deeper_than_one_function_holds_still_compiles(
    nesting: str, depth: int
):
    expression = "b"
    for _ in range(depth):
        expression = nesting % expression
    # jmespath's parser and interpreter recurse further per level than jmes does: they get
    # the room; jmes compiles under the default limit, as in Lambda.
    with recursion_limit(20_000):
        node = jmespath.compile(expression).parsed
        wanted = [outcome(library(expression), record) for record in DEEP_RECORDS]
    search = jmes.compile_node(node)
    read = jmes.compile_fields({"shallow": {"type": "field", "value": "b"}, "deep": node})
    for record, want in zip(DEEP_RECORDS, wanted, strict=True):
        assert outcome(search, record) == want
        assert outcome(lambda r: read(r)["deep"], record) == want
        assert read(record)["shallow"] == 1
    # A node more than MAX_DEPTH blocks down got a function of its own.
    split = any(getattr(v, "__name__", "") == "search" for v in _constants(search))
    assert split == (NESTINGS[nesting] * depth >= jmes.MAX_DEPTH)


def _constants(search: Callable[[Any], Any]) -> list[Any]:
    return [v for k, v in search.__globals__.items() if re.fullmatch(r"c\d+", k)]


# Keys, strings and field names that would break out of any template they were pasted into;
# each carries a mark no template has.
MARK = "§"
NASTY = st.sampled_from(
    [
        *("'", '"', "\\", "\n", "#", ")", "}:", "'''", '"""', "__import__('os').system('x')"),
        *("a\n    import os", "value", "t1", "c1", "_visit", "None", "0", "1e9", "{a}", "%s"),
    ]
)
MARKED = st.tuples(NASTY | st.text(max_size=6), st.booleans()).map(
    lambda t: f"{MARK}{t[0]}" if t[1] else f"{t[0]}{MARK}"
)
RAW_MARKED = MARKED.map(lambda t: t.replace("'", "").replace("\\", ""))  # no escapes in '...'
MARKED_SCALARS = SCALARS | MARKED | st.integers() | st.floats(allow_nan=False)
TEMPLATE_NAMES = {"def", "search", "value", "return", "if", "else", "is", "not", "None", "get"}
TEMPLATE_NAMES |= {"type", "dict"} | {k for k in jmes._Emitter().namespace if k.startswith("_")}
_TEMPLATE_TOKENS = {
    tokenize.NAME,
    tokenize.OP,
    tokenize.NEWLINE,
    tokenize.NL,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
}  # no STRING, NUMBER or COMMENT: nothing the mapping could have put there


@settings(max_examples=100, deadline=None)
@given(
    fields=st.dictionaries(
        MARKED,
        expressions(MARKED, RAW_MARKED, records(MARKED, MARKED_SCALARS)),
        min_size=1,
        max_size=3,
    ),
    record=records(MARKED, MARKED_SCALARS),
)
def test_nothing_from_the_mapping_is_written_into_the_generated_source(
    fields: dict[str, str], record: Any
):
    sources: list[str] = []

    def recording(source: str, *args: Any) -> Any:
        sources.append(source)
        return builtins.compile(source, *args)

    nodes = {name: jmespath.compile(text).parsed for name, text in fields.items()}
    with mock.patch.object(jmes, "compile", recording, create=True):
        read = jmes.compile_fields(nodes)
        searches = [jmes.compile_node(node) for node in nodes.values()]
    assert sources
    for source in sources:
        assert MARK not in source
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            assert token.type in _TEMPLATE_TOKENS, (token, source)
            if token.type == tokenize.NAME:
                assert token.string in TEMPLATE_NAMES or re.fullmatch(r"[tc]\d+", token.string)
    # Every value from the mapping is in the namespace, under a made-up name.
    for search in [read, *searches]:
        assert all(
            k in TEMPLATE_NAMES or k == "__builtins__" or re.fullmatch(r"c\d+", k)
            for k in search.__globals__
        )
    for (name, text), search in zip(fields.items(), searches, strict=True):
        assert outcome(search, record) == outcome(library(text), record)
        if outcome(read, record)[0] != "raised":
            assert typed(read(record)[name]) == outcome(library(text), record)
