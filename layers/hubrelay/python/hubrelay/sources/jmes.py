"""JMESPath expressions of a vendor mapping as Python closures, built once per mapping.

jmespath's TreeInterpreter walks the expression's tree for every record: a method lookup
and a call per node. `compile_node` turns each node into a closure that does what the
interpreter's `visit_<type>` does for it, so a record costs one call per node and no
lookups. The node types the vendor mappings use are compiled (fields, sub- and index
expressions, literals, multi-selects, and/or/not, comparisons, pipes); any other node
(projections, filters, functions...) is searched by the interpreter itself from there on,
so every expression gives exactly what jmespath gives
(https://jmespath.org/specification.html; tests/unit/test_sources_vendor.py compares them).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from jmespath import visitor

Search = Callable[[Any], Any]

# One interpreter for every search: it holds only the (default) options and functions,
# which jmespath's ParsedResult.search would build again for each call.
INTERPRETER = visitor.TreeInterpreter()
_ORDERING = visitor.TreeInterpreter.COMPARATOR_FUNC


def compile_node(node: dict[str, Any]) -> Search:
    """A closure giving what TreeInterpreter().visit(node, value) gives."""
    kind = node["type"]
    children = node.get("children", [])
    if kind == "field":
        return partial(_field, node["value"])
    if kind == "subexpression" and (keys := _field_chain(node)) is not None:
        return partial(_dig, keys)
    if kind in ("subexpression", "index_expression", "pipe"):
        return _chain(tuple(compile_node(c) for c in children))
    if kind == "index":
        return partial(_index, node["value"])
    if kind == "literal":
        literal = node["value"]
        return lambda value: literal
    if kind in ("current", "identity"):
        return _identity
    if kind == "key_val_pair":
        return compile_node(children[0])
    if kind == "multi_select_dict":
        pairs = tuple((c["value"], compile_node(c)) for c in children)
        return partial(_select_dict, pairs)
    if kind == "multi_select_list":
        return partial(_select_list, tuple(compile_node(c) for c in children))
    if kind in ("or_expression", "and_expression"):
        left, right = (compile_node(c) for c in children)
        return partial(_or if kind == "or_expression" else _and, left, right)
    if kind == "not_expression":
        return partial(_not, compile_node(children[0]))
    if kind == "comparator":
        left, right = (compile_node(c) for c in children)
        return _comparator(node["value"], left, right)
    return partial(INTERPRETER.visit, node)


def _field_chain(node: dict[str, Any]) -> tuple[str, ...] | None:
    """The keys of an expression that is only fields (`a`, `a.b.c`), else None."""
    if node["type"] == "field":
        return (node["value"],)
    if node["type"] != "subexpression":
        return None
    keys: tuple[str, ...] = ()
    for child in node["children"]:
        part = _field_chain(child)
        if part is None:
            return None
        keys += part
    return keys


def _dig(keys: tuple[str, ...], value: Any) -> Any:
    """A chain of fields: each step is `value.get(key)`, None when the value has no `get`
    (TreeInterpreter.visit_field)."""
    for key in keys:
        try:
            value = value.get(key)
        except AttributeError:
            return None
    return value


def _field(key: str, value: Any) -> Any:
    try:
        return value.get(key)
    except AttributeError:
        return None


def _chain(steps: tuple[Search, ...]) -> Search:
    if len(steps) == 2:
        first, second = steps
        return lambda value: second(first(value))

    def chained(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value

    return chained


def _index(index: int, value: Any) -> Any:
    if not isinstance(value, list):
        return None
    try:
        return value[index]
    except IndexError:
        return None


def _identity(value: Any) -> Any:
    return value


def _select_dict(pairs: tuple[tuple[str, Search], ...], value: Any) -> Any:
    if value is None:
        return None
    return {key: search(value) for key, search in pairs}


def _select_list(searches: tuple[Search, ...], value: Any) -> Any:
    if value is None:
        return None
    return [search(value) for search in searches]


def _or(left: Search, right: Search, value: Any) -> Any:
    matched = left(value)
    return right(value) if _is_false(matched) else matched


def _and(left: Search, right: Search, value: Any) -> Any:
    matched = left(value)
    return matched if _is_false(matched) else right(value)


def _not(operand: Search, value: Any) -> Any:
    result = operand(value)
    kind = type(result)
    if kind is int or kind is float:
        return False  # jmespath: !0 is false too, 0 being no special number there
    if kind is str or kind is bool or kind is list or kind is dict or result is None:
        return not result
    if visitor._is_actual_number(result) and result == 0:
        return False
    return not result


def _comparator(op: str, left: Search, right: Search) -> Search:
    if op == "eq":
        return lambda value: _equals(left(value), right(value))
    if op == "ne":
        return lambda value: not _equals(left(value), right(value))
    ordering = _ORDERING[op]

    def ordered(value: Any) -> Any:
        # Ordering operators are for numbers (and strings) only; anything else gives null.
        a, b = left(value), right(value)
        if not (_is_comparable(a) and _is_comparable(b)):
            return None
        return ordering(a, b)

    return ordered


# jmespath's own predicates, with a fast path by exact type for what JSON gives: they test
# numbers with isinstance(x, numbers.Number), an ABC check (~0.3 us), and _is_false builds
# an empty list and dict on each call. Anything else still goes to jmespath's.


def _is_false(value: Any) -> bool:
    """jmespath's false: '', [], {}, null and false (not 0)."""
    kind = type(value)
    if kind is str or kind is list or kind is dict:
        return not value
    if value is None or value is False:
        return True
    if kind is bool or kind is int or kind is float:
        return False
    return bool(INTERPRETER._is_false(value))


def _equals(x: Any, y: Any) -> Any:
    """jmespath's ==, where 0 and 1 never equal false and true. That special case needs a
    number on one side and a bool on the other, never a string or null."""
    if type(x) is str or type(y) is str or x is None or y is None:
        return x == y
    return visitor._equals(x, y)


def _is_comparable(x: Any) -> bool:
    kind = type(x)
    if kind is str or kind is int or kind is float:
        return True
    return bool(visitor._is_comparable(x))
