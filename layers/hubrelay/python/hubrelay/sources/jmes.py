"""JMESPath expressions of a vendor mapping as Python functions, built once per mapping.

jmespath's TreeInterpreter walks the expression's tree for every record: a method lookup
and a call per node. Here the node types vendor mappings use (fields, sub- and index
expressions, literals, multi-selects, and/or/not, comparisons, pipes) become the Python
statements that do what the interpreter's `visit_<type>` does for them, in one function
for all the fields of a mapping: a record costs one call, not one or more per node. Any
other node (projections, filters, functions...) is searched by the interpreter itself from
there on, so every expression gives exactly what jmespath gives
(https://jmespath.org/specification.html; tests/unit/test_sources_vendor.py compares them).

The generated source holds only the templates below and names it makes up (t1, c1...):
every value that comes from the mapping (keys, literals, nodes) is passed in the
function's namespace, never written into the source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jmespath import visitor

Search = Callable[[Any], Any]

# One interpreter for every search: it holds only the (default) options and functions,
# which jmespath's ParsedResult.search would build again for each call.
INTERPRETER = visitor.TreeInterpreter()
_ORDERING = visitor.TreeInterpreter.COMPARATOR_FUNC
MAX_DEPTH = 40  # blocks nested in one generated function


def compile_node(node: dict[str, Any]) -> Search:
    """A function giving what TreeInterpreter().visit(node, value) gives."""
    return _Emitter().function([node])


def compile_fields(
    nodes: Mapping[str, dict[str, Any] | None],
) -> Callable[[Any], dict[str, Any]]:
    """A function giving, for a value, what each node gives by name (None for None)."""
    return _Emitter().function(list(nodes.values()), keys=list(nodes))


class _Emitter:
    """Writes the statements computing nodes, each result into a name of its own."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1
        self.namespace: dict[str, Any] = {
            "_field": _field,
            "_index": _index,
            "_not": _not,
            "_equals": _equals,
            "_ordered": _ordered,
            "_is_false": _is_false,
            "_visit": INTERPRETER.visit,
        }
        self.count = 0

    def function(self, nodes: list[dict[str, Any] | None], keys: list[str] | None = None) -> Search:
        """The function of one node (`keys` None), or of a dict of them by `keys`."""
        results = [self.emit(n, "value") if n is not None else "None" for n in nodes]
        returned = results[0]
        if keys is not None:
            pairs = zip([self.constant(key) for key in keys], results, strict=True)
            returned = "{" + "".join(f"{k}: {r}, " for k, r in pairs) + "}"
        source = "\n".join(["def search(value):", *self.lines, f"    return {returned}"])
        # Safe to run: the source is made of this class's templates and names only.
        exec(compile(source, "<vendor mapping>", "exec"), self.namespace)  # noqa: S102
        search: Search = self.namespace["search"]
        return search

    def name(self, prefix: str = "t") -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def constant(self, value: Any) -> str:
        name = self.name("c")
        self.namespace[name] = value
        return name

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def assign(self, expression: str) -> str:
        target = self.name()
        self.line(f"{target} = {expression}")
        return target

    def emit(self, node: dict[str, Any], value: str) -> str:
        """Statements computing `node` on the value named `value`; the result's name."""
        kind, children = node["type"], node.get("children", [])
        if self.depth > MAX_DEPTH:
            # Python refuses a function indented 100 levels deep: deeper nodes get their own.
            return self.assign(f"{self.constant(compile_node(node))}({value})")
        if kind == "field":
            key = self.constant(node["value"])
            # TreeInterpreter.visit_field: value.get(key), None when there is no `get` (null
            # most often: a field of a missing object, told without raising AttributeError).
            return self.assign(
                f"{value}.get({key}) if type({value}) is dict"
                f" else None if {value} is None else _field({key}, {value})"
            )
        if kind in ("subexpression", "index_expression", "pipe"):
            for child in children:
                value = self.emit(child, value)
            return value
        if kind == "literal":
            return self.constant(node["value"])
        if kind in ("current", "identity"):
            return value
        if kind == "key_val_pair":
            return self.emit(children[0], value)
        if kind in ("multi_select_dict", "multi_select_list"):
            return self.select(node, value)
        if kind in ("or_expression", "and_expression"):
            return self.junction(kind == "or_expression", children, value)
        if kind == "not_expression":
            return self.assign(f"_not({self.emit(children[0], value)})")
        if kind == "comparator":
            return self.comparator(node["value"], children, value)
        if kind == "index":
            return self.assign(f"_index({self.constant(node['value'])}, {value})")
        return self.assign(f"_visit({self.constant(node)}, {value})")

    def select(self, node: dict[str, Any], value: str) -> str:
        """A multi-select: null for null, else each child's result, in order."""
        target = self.name()
        self.line(f"if {value} is None:")
        self.line(f"    {target} = None")
        self.line("else:")
        self.depth += 1
        results = []
        # A loop, not a comprehension, and a dict's pairs unwrapped here: fewer frames for
        # each level of nesting, so that selects nested ~330 deep (as far as jmespath's
        # parser goes) still compile, as they did when each node was a closure.
        for child in node["children"]:
            pair = child["type"] == "key_val_pair"
            results.append(self.emit(child["children"][0] if pair else child, value))
        if node["type"] == "multi_select_dict":
            keys = [self.constant(child["value"]) for child in node["children"]]
            pairs = "".join(f"{k}: {r}, " for k, r in zip(keys, results, strict=True))
            self.line(f"{target} = {{{pairs}}}")
        else:
            self.line(f"{target} = [{', '.join(results)}]")
        self.depth -= 1
        return target

    def junction(self, is_or: bool, children: list[dict[str, Any]], value: str) -> str:
        """`a || b` is b when a is false, else a; `a && b` is a when a is false, else b."""
        left = self.emit(children[0], value)
        target = self.name()
        self.line(f"if {'' if is_or else 'not '}_is_false({left}):")
        self.depth += 1
        self.line(f"{target} = {self.emit(children[1], value)}")
        self.depth -= 1
        self.line("else:")
        self.line(f"    {target} = {left}")
        return target

    def comparator(self, op: str, children: list[dict[str, Any]], value: str) -> str:
        left, right = (self.emit(child, value) for child in children)
        if op == "eq":
            return self.assign(f"_equals({left}, {right})")
        if op == "ne":
            return self.assign(f"not _equals({left}, {right})")
        return self.assign(f"_ordered({self.constant(_ORDERING[op])}, {left}, {right})")


def _field(key: str, value: Any) -> Any:
    try:
        return value.get(key)
    except AttributeError:
        return None


def _index(index: int, value: Any) -> Any:
    if not isinstance(value, list):
        return None
    try:
        return value[index]
    except IndexError:
        return None


def _not(result: Any) -> Any:
    kind = type(result)
    if kind is int or kind is float:
        return False  # jmespath: !0 is false too, 0 being no special number there
    if kind is str or kind is bool or kind is list or kind is dict or result is None:
        return not result
    if visitor._is_actual_number(result) and result == 0:
        return False
    return not result


def _ordered(ordering: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    # Ordering operators are for numbers (and strings) only; anything else gives null.
    if not (_is_comparable(a) and _is_comparable(b)):
        return None
    return ordering(a, b)


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
