"""An EventBridge event-pattern matcher for the subset of the pattern language hubrelay uses.

Written from the EventBridge user guide ("Event patterns", "Arrays in event patterns",
"Content filtering"), independently of moto's matcher, so template patterns are checked
against the documented semantics:

* A pattern is an object. Every key must match (AND); a key's value is either a nested
  object or an array of match values, any of which may match (OR).
* A pattern only looks at the fields it names; the event must contain them (except for
  `{"exists": false}`).
* Arrays in the event: the pattern matches when the intersection of the pattern's values
  and the event array's values is non-empty. Arrays of objects are flattened: each pattern
  field is matched against the values of that field in *any* element, independently of
  the other fields. So {"findings": {"a": ["x"], "b": ["y"]}} matches findings
  [{"a": "x", "b": "n"}, {"a": "n", "b": "y"}], although no single finding has both.
* Match values: exact strings, numbers (compared as numbers), booleans and null; and the
  filters `prefix`, `suffix`, `equals-ignore-case`, `wildcard` (only `*`), `anything-but`
  (a value, a list, or {"prefix"} / {"suffix"}), `numeric` (comparisons on JSON numbers
  only) and `exists` (leaf fields only); plus `$or` at object level.
* Content filters other than `exists: false` never match a missing field.

Anything else raises PatternError: a pattern this module does not understand must not be
reported as matching or not matching.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["PatternError", "matches", "validate"]

_OPERATORS = frozenset(
    {"prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists"}
)
_NUMERIC_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}


class PatternError(ValueError):
    """A pattern outside the supported subset, or not a valid pattern at all."""


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether EventBridge would deliver `event` to a rule with `pattern`."""
    validate(pattern)
    return _object(pattern, event, ())


def validate(pattern: Any, where: str = "pattern") -> None:
    if not isinstance(pattern, Mapping) or not pattern:
        raise PatternError(f"{where} must be a non-empty object")
    for key, spec in pattern.items():
        here = f"{where}.{key}"
        if key == "$or":
            if not isinstance(spec, list) or len(spec) < 2:
                raise PatternError(f"{here} needs a list of at least two patterns")
            for index, alternative in enumerate(spec):
                validate(alternative, f"{here}[{index}]")
        elif isinstance(spec, Mapping):
            validate(spec, here)
        elif isinstance(spec, list):
            if not spec:
                raise PatternError(f"{here} is an empty array (it would match nothing)")
            for value in spec:
                _validate_value(value, here)
        else:
            raise PatternError(f"{here} must be an object or an array, not {spec!r}")


def _validate_value(value: Any, where: str) -> None:
    if value is None or isinstance(value, str | int | float | bool):
        return
    if not isinstance(value, Mapping) or len(value) != 1:
        raise PatternError(f"{where}: {value!r} is not a match value")
    ((operator, argument),) = value.items()
    if operator not in _OPERATORS:
        raise PatternError(f"{where}: operator {operator!r} is not supported here")
    if operator == "numeric":
        _numeric_pairs(argument, where)
    elif operator == "exists" and not isinstance(argument, bool):
        raise PatternError(f"{where}: exists takes true or false")
    elif (
        operator == "anything-but"
        and isinstance(argument, Mapping)
        and (set(argument) - {"prefix", "suffix"} or len(argument) != 1)
    ):
        raise PatternError(f"{where}: anything-but takes a value, a list, prefix or suffix")


def _numeric_pairs(argument: Any, where: str) -> list[tuple[str, float]]:
    if not isinstance(argument, list) or not argument or len(argument) % 2:
        raise PatternError(f"{where}: numeric takes operator/number pairs")
    pairs = []
    for op, number in zip(argument[::2], argument[1::2], strict=True):
        if op not in _NUMERIC_OPS or not _is_number(number):
            raise PatternError(f"{where}: bad numeric comparison {op!r} {number!r}")
        pairs.append((op, float(number)))
    return pairs


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _leaves(node: Any, path: Sequence[str]) -> list[Any]:
    """The leaf values at `path`, flattening arrays at any depth (objects are not leaves)."""
    if isinstance(node, list):
        return [value for item in node for value in _leaves(item, path)]
    if not path:
        return [] if isinstance(node, Mapping) else [node]
    if isinstance(node, Mapping) and path[0] in node:
        return _leaves(node[path[0]], path[1:])
    return []


def _object(pattern: Mapping[str, Any], event: Mapping[str, Any], prefix: tuple[str, ...]) -> bool:
    for key, spec in pattern.items():
        if key == "$or":
            if not any(_object(alternative, event, prefix) for alternative in spec):
                return False
            continue
        path = (*prefix, key)
        if isinstance(spec, Mapping):
            if not _object(spec, event, path):
                return False
        elif not any(_value(matcher, _leaves(event, path)) for matcher in spec):
            return False
    return True


def _value(matcher: Any, values: list[Any]) -> bool:
    if isinstance(matcher, Mapping) and "exists" in matcher:
        return bool(values) is matcher["exists"]
    return any(_test(matcher, value) for value in values)


def _equal(expected: Any, value: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return type(expected) is type(value) and expected == value
    if _is_number(expected) and _is_number(value):
        return float(expected) == float(value)
    if expected is None or value is None:
        return expected is None and value is None
    return type(expected) is type(value) and expected == value


def _test(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, Mapping):
        return _equal(matcher, value)
    ((operator, argument),) = matcher.items()
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(argument)
    if operator == "suffix":
        return isinstance(value, str) and value.endswith(argument)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == str(argument).casefold()
    if operator == "wildcard":
        regex = ".*".join(re.escape(part) for part in str(argument).split("*"))
        return isinstance(value, str) and re.fullmatch(regex, value, re.DOTALL) is not None
    if operator == "numeric":
        return _is_number(value) and all(
            _NUMERIC_OPS[op](float(value), number) for op, number in _numeric_pairs(argument, "")
        )
    # anything-but
    if isinstance(argument, Mapping):
        if "prefix" in argument:
            return isinstance(value, str) and not value.startswith(argument["prefix"])
        return isinstance(value, str) and not value.endswith(argument["suffix"])
    excluded = argument if isinstance(argument, list) else [argument]
    return not any(_equal(item, value) for item in excluded)
