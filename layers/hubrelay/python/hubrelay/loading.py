"""The one loading policy for JSON from outside: queue messages, scanner reports, vendor
pages, queued EventBridge events, the files the CLI reads.

Python's json module reads more than hubrelay can handle: nesting as deep as the
interpreter's recursion limit (then RecursionError, in the parser or in any recursive code
after it), integers of thousands of digits (``math.isfinite`` raises OverflowError past 308
digits; ``str`` raises ValueError past 4,300), NaN and Infinity (not JSON at all, and
botocore cannot send them), and, from bytes, lone surrogates ('surrogatepass'). A document
that breaks the policy is refused whole with `LoadError`: a permanent error (retrying reads
the same bytes) and a ValueError (so the ``except ValueError`` of every caller holds),
whose message names the record, the reason and, where cheap, the path.

`load_json` reads text or bytes; `check_value` applies the same limits to a value that was
parsed elsewhere (an event Lambda's runtime parsed, a finding built in code).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from itertools import accumulate
from typing import Any, TypeGuard

from hubrelay.errors import PermanentError

# The deepest legitimate input is an EventBridge event around an ASFF finding: the event,
# detail, findings, then at most about 12 levels of the AwsSecurityFinding model; SARIF
# (runs, results, codeFlows, threadFlows, locations, physicalLocation, region...) and
# Trivy stay under 15 as well. 64 leaves room for property bags and vendor formats, and
# keeps every recursive step after loading (botocore's validation, json.dumps, deepcopy,
# pydantic) far below the interpreter's recursion limit of 1,000 even on a deep stack.
MAX_DEPTH = 64
# ASFF integers are small (percentages, ports, counts, at most a 64-bit long: 19 digits),
# as are SARIF's (lines, offsets, ranks) and Trivy's and Grype's (sizes, scores, epochs).
# 64 digits also admits a vendor's 128-bit numeric id (39 digits) and stays far below
# the 309 digits at which converting to float overflows.
MAX_INT_DIGITS = 64
_INT_BOUND = 10**MAX_INT_DIGITS
MAX_PATH_CHARS = 120  # of the path an error names

# A JSON string (escapes included), matched without backtracking; what remains outside
# strings holds the brackets that make the depth.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_CONSTANTS = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}


class LoadError(PermanentError, ValueError):
    """Outside input the loading policy refuses; `kind` says which rule it broke: syntax,
    encoding, depth, integer or number."""

    def __init__(self, what: str, reason: str, *, kind: str, path: str = "") -> None:
        where = f" at {path}" if path else ""
        super().__init__(f"{what}: {reason}{where}")
        self.what, self.reason, self.kind, self.path = what, reason, kind, path


class _Refused:
    """Put by the parser where a number breaks the policy, so that the path can be found
    once parsing is over (only when something was refused: no walk otherwise)."""

    def __init__(self, kind: str, reason: str) -> None:
        self.kind, self.reason = kind, reason


def load_json(data: str | bytes | bytearray, *, what: str) -> Any:
    """The JSON value of `data`, read under the policy; LoadError names `what` and why."""
    if not isinstance(data, str | bytes | bytearray):
        raise LoadError(what, f"not JSON text but {type(data).__name__}", kind="syntax")
    text = _decode(data, what) if isinstance(data, bytes | bytearray) else data
    if too_deep(text):
        raise LoadError(what, DEPTH_REASON, kind="depth")
    refused: list[_Refused] = []
    decoder = marking_decoder(refused.append)
    try:
        # json.loads rather than decoder.decode: it also refuses a leading BOM by name.
        document = json.loads(
            text,
            parse_int=decoder.parse_int,
            parse_float=decoder.parse_float,
            parse_constant=decoder.parse_constant,
        )
    except json.JSONDecodeError as exc:
        raise LoadError(what, f"not JSON: {exc}", kind="syntax") from None
    if refused:
        found = _first_problem(document, floats=False)
        kind, reason, path = found if found else (refused[0].kind, refused[0].reason, "")
        raise LoadError(what, reason, kind=kind, path=path)
    return document


def load_json_values(data: str | bytes | bytearray, *, what: str) -> Any:
    """`load_json`, or, when `data` holds several JSON values one after another, the list
    of them: JSON Lines / NDJSON (https://jsonlines.org/: prowler 2's json-asff output, one
    finding a line) and the objects Amazon Data Firehose writes back to back into an S3
    object. Each value is read under the same policy (`load_json` of its text); a single
    document reads exactly as `load_json` reads it."""
    try:
        return load_json(data, what=what)
    except LoadError as exc:
        if exc.kind != "syntax" or not exc.reason.startswith("not JSON: Extra data"):
            raise
    text = _decode(data, what) if isinstance(data, bytes | bytearray) else data
    if text.startswith("\ufeff"):  # a BOM (utf-8-sig decodes it away; a str may keep it)
        text = text[1:]
    decoder, at = marking_decoder(), 0
    values: list[Any] = []
    while (at := _skip_whitespace(text, at)) < len(text):
        try:
            _, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            raise LoadError(what, f"not JSON: {exc}", kind="syntax") from None
        except RecursionError:  # pragma: no cover - load_json refused the depth first
            raise LoadError(what, DEPTH_REASON, kind="depth") from None
        values.append(load_json(text[at:end], what=f"{what} (value {len(values) + 1})"))
        at = end
    return values


def _skip_whitespace(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\n\r":
        at += 1
    return at


def marking_decoder(
    refused: Callable[[_Refused], object] = lambda marker: None,
) -> json.JSONDecoder:
    """json's decoder that parses a number the policy refuses (too many digits, NaN,
    Infinity) as a marker, handed to `refused` as well. `load_json` raises on the first
    marker after parsing; a reader that checks each value it parses with `check_value`
    (hubrelay.sources.streamjson: a stream cannot be checked for depth before it is
    parsed, as `load_json` does) has the marker's reason and path named there."""

    def marker(kind: str, reason: str) -> _Refused:
        found = _Refused(kind, reason)
        refused(found)
        return found

    def parse_int(digits: str) -> int | _Refused:
        count = len(digits) - digits.startswith("-")
        if count > MAX_INT_DIGITS:
            return marker("integer", _int_reason(count))
        return int(digits)

    def parse_float(literal: str) -> float | _Refused:
        value = float(literal)
        if math.isfinite(value):
            return value
        return marker("number", f"number {literal[:40]} is beyond the range of a double")

    def parse_constant(name: str) -> _Refused:
        return marker("number", f"{_CONSTANTS[name]} is not a JSON number")

    return json.JSONDecoder(
        parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant
    )


def check_value(value: Any, *, what: str, depth: int = 0) -> None:
    """Apply the policy to a value parsed elsewhere: LoadError when it breaks it. `depth`:
    the levels above the value in its document (a record read from a stream), which count
    towards MAX_DEPTH as they do when the document is read whole."""
    found = _first_problem(value, floats=True, above=depth)
    if found:
        kind, reason, path = found
        raise LoadError(what, reason, kind=kind, path=path)


def structure_problem(value: Any) -> tuple[str, str] | None:
    """(reason, path) of the first part of `value` too deep or too large an integer for
    any code to handle, or None. Non-finite floats are left to the caller (the ASFF
    validator names them by field)."""
    found = _first_problem(value, floats=False)
    return (found[1], found[2]) if found else None


DEPTH_REASON = f"nested too deeply (more than {MAX_DEPTH} levels)"


def _int_reason(digits: int) -> str:
    return f"integer of {digits} digits (at most {MAX_INT_DIGITS})"


def _decode(data: bytes | bytearray, what: str) -> str:
    # The encoding JSON's own detection picks (UTF-8 unless a byte-order mark or the null
    # bytes of UTF-16/32 say otherwise, as json.loads of bytes has always read reports),
    # but strictly: no 'surrogatepass', so broken UTF-8 and lone surrogates are refused.
    encoding = json.detect_encoding(data)
    try:
        return bytes(data).decode(encoding)
    except UnicodeDecodeError as exc:
        reason = encoding_reason(encoding, exc, exc.start, data)
        raise LoadError(what, reason, kind="encoding") from None


def encoding_reason(
    encoding: str, exc: UnicodeDecodeError, at: int, start: bytes | bytearray = b""
) -> str:
    """Why text in `encoding` could not be decoded, at byte `at` of its document (whose
    first bytes are `start`)."""
    if bytes(start[:2]) == GZIP_MAGIC:
        return "gzip-compressed (RFC 1952): reports are read as uncompressed JSON; gunzip it"
    name = "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
    return f"not valid {name} ({exc.reason}) at byte {at}"


GZIP_MAGIC = b"\x1f\x8b"  # a gzip member's ID1 and ID2 (RFC 1952, 2.3.1)


def too_deep(text: str, above: int = 0) -> bool:
    """Whether brackets outside strings nest deeper than MAX_DEPTH: counted without
    recursion and in C-speed passes. load_json asks before its parser (which recurses)
    runs; hubrelay.message asks of each finding's text after parsing it, the parser
    refusing what is deeper than the interpreter allows with RecursionError, which sends
    the body to load_json. `above`: the levels around `text` in its document."""
    room = MAX_DEPTH - above
    if text.count("[") + text.count("{") <= room:
        return False  # too few brackets in all to nest that deep
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > room


Found = tuple[str, str, str]  # (kind, reason, path)
KeyPath = tuple[Any, ...] | None  # (parent's KeyPath, key): built only for containers


# Types that are never a Mapping: JSON gives these, and testing them against the ABC
# first costs ~0.3 us each.
_NOT_MAPPINGS = frozenset({type(None), str, int, float, bool, list})


def is_mapping(value: Any) -> TypeGuard[Mapping[Any, Any]]:
    """isinstance(value, Mapping), without the ABC's check for what JSON gives (a dict, or
    a type that is never a mapping): the mappers' and the validator's hot paths ask it."""
    kind = type(value)
    return kind is dict or (kind not in _NOT_MAPPINGS and isinstance(value, Mapping))


def _is_container(value: Any) -> bool:
    # dict and list first (checked in order): the only containers JSON gives, matched
    # before the slower Mapping ABC is asked.
    return isinstance(value, dict | list | Mapping | tuple)


def _first_problem(value: Any, *, floats: bool, above: int = 0) -> Found | None:
    """The first part of `value` that breaks the policy, walked without recursion. A
    container met twice (only a value built in code can share one) is walked again only
    when met deeper, so a cycle ends as too deep and shared parts cost no more than 64
    walks."""
    if not _is_container(value):
        problem = _scalar_problem(value, floats)
        return (*problem, "") if problem else None
    walked: dict[int, int] = {}  # id of a container -> depth it was walked at
    stack: list[tuple[Any, int, KeyPath]] = [(value, 1 + above, None)]
    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            return ("depth", DEPTH_REASON, _render(path))
        if walked.get(id(node), 0) >= depth:
            continue
        walked[id(node)] = depth
        pairs = node.items() if isinstance(node, Mapping) else enumerate(node)
        for key, item in pairs:
            if _is_container(item):
                stack.append((item, depth + 1, (path, key)))
            elif (problem := _scalar_problem(item, floats)) is not None:
                return (*problem, _render((path, key)))
    return None


def _scalar_problem(value: Any, floats: bool) -> tuple[str, str] | None:
    if isinstance(value, _Refused):
        return (value.kind, value.reason)
    if isinstance(value, int) and not isinstance(value, bool):
        if -_INT_BOUND < value < _INT_BOUND:
            return None
        return ("integer", _int_reason(_digits(abs(value))))
    if floats and isinstance(value, float) and not math.isfinite(value):
        name = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return ("number", f"{name} is not a JSON number")
    return None


def _digits(value: int) -> int:
    """Decimal digits of a positive int, without str() (which refuses over 4,300 digits)."""
    digits = max(int((value.bit_length() - 1) * math.log10(2)), 0) + 1
    while digits > 1 and value < 10 ** (digits - 1):
        digits -= 1
    while value >= 10**digits:
        digits += 1
    return digits


def _render(path: KeyPath) -> str:
    """findings[0].Confidence from the (parent, key) chain."""
    keys: list[Any] = []
    while path is not None:
        path, key = path
        keys.append(key)
    out = ""
    for key in reversed(keys):
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            text = str(key)[:64]
            out += f".{text}" if out else text
    # A path down a deep nesting says nothing more after its first steps.
    return (out[:MAX_PATH_CHARS] + "...") if len(out) > MAX_PATH_CHARS else out or "(top)"
