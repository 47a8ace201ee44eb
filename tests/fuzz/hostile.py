"""Inputs the loading policy (hubrelay.loading) exists for, put into the fuzz generators.

Two forms, because outside input reaches hubrelay in two:

- As text or bytes (a queue message, an S3 report, a vendor page, a file, a queued event),
  read by ``hubrelay.loading.load_json``: `raw` renders a generated document to JSON and
  puts in, at one or two places, an integer of 65 to 100,000 digits, nesting 65 to
  100,000 deep, NaN or Infinity, or bytes that are not UTF-8 (not in queue messages,
  which are text). Such an input is a `Raw`.
- As a value Python's json already parsed (an event Lambda's runtime hands over, a finding
  built in code, what botocore parsed): `with_values` puts in what that parser lets
  through, integers up to its 4,300-digit limit, NaN and Infinity, nesting of up to 900.

Nothing here recurses over a generated value, so the deep inputs cannot break the
generators themselves.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from hubrelay import loading
from tests.support import nested

WHAT = "fuzz input"
_PLACEHOLDER = "\x00hubrelay-hostile\x00"
_QUOTED = json.dumps(_PLACEHOLDER)


@dataclass(frozen=True)
class Raw:
    """Outside input as the wire or the file holds it, before any parsing."""

    data: bytes


def load(raw: Raw | str) -> Any:
    """What production does with outside text: hubrelay.loading, under its policy."""
    return loading.load_json(raw if isinstance(raw, str) else raw.data, what=WHAT)


def saved(value: Any) -> Any:
    """`json.dump` default for failing inputs: a Raw is kept as base64."""
    if isinstance(value, Raw):
        return {"raw_base64": base64.b64encode(value.data).decode()}
    raise TypeError(f"{type(value).__name__} is not JSON")


def restored(value: Any) -> Any:
    """A saved input as the target takes it (the inverse of `saved`, anywhere inside)."""
    if isinstance(value, Mapping) and set(value) == {"raw_base64"}:
        return Raw(base64.b64decode(value["raw_base64"]))
    if isinstance(value, list):
        return [restored(item) for item in value]
    return value


# --- as text or bytes ------------------------------------------------------------------

_text_fragments = st.one_of(
    st.just("9" * 401),  # the integer of issue 12
    st.integers(65, 5_000).map(lambda n: "7" * n),
    st.integers(65, 100_000).map(lambda n: "-" + "1" * n),
    st.integers(65, 100_000).map(lambda n: "[" * n + "]" * n),
    st.integers(65, 20_000).map(lambda n: '{"a":' * n + "0" + "}" * n),
    st.integers(65, 100_000).map(lambda n: "[" * n),  # never closed
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "[NaN, 1]"]),
)
_byte_fragments = st.sampled_from(
    [
        b'"\xff"',
        b'"caf\xc3"',  # cut in the middle of a character
        b'"\xed\xa0\x80"',  # a surrogate, which 'surrogatepass' would have read
        b'"\xc0\xaf"',  # an overlong "/"
        b'"\xf4\x90\x80\x80"',  # past U+10FFFF
    ]
)
_fragments = st.one_of(_text_fragments.map(str.encode), _byte_fragments)


def _places(value: Any) -> list[tuple[Any, ...]]:
    """Every path in `value` (root first), walked without recursion."""
    out: list[tuple[Any, ...]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        out.append(path)
        if isinstance(node, Mapping):
            stack.extend((item, (*path, key)) for key, item in node.items())
        elif isinstance(node, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(node))
    return out


def _put(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    """`document` with `value` at `path` (the document itself is changed), or as it was
    when an earlier change removed the path."""
    if not path:
        return value
    node = document
    try:
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass
    return document


@st.composite
def raw(
    draw: st.DrawFn,
    documents: st.SearchStrategy[Any],
    fragments: st.SearchStrategy[bytes] = _fragments,
) -> Raw:
    """A document from `documents`, as JSON bytes with hostile fragments in one or two
    places (the document must be fresh: it is changed)."""
    document = draw(documents)
    places = _places(document)
    for _ in range(draw(st.integers(1, 2))):
        document = _put(document, draw(st.sampled_from(places)), _PLACEHOLDER)
    parts = json.dumps(document).encode().split(_QUOTED.encode())
    out = parts[0]
    for part in parts[1:]:
        out += draw(fragments) + part
    return Raw(out)


def texts(documents: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """Hostile JSON as text (queue message bodies): no broken UTF-8, which SQS, taking
    and giving only Unicode text, cannot deliver."""
    return raw(documents, _text_fragments.map(str.encode)).map(lambda r: r.data.decode())


# --- as values Python's json parsed -------------------------------------------------


values = st.one_of(
    st.just(10**400),
    st.integers(65, 4_300).map(lambda n: -(10 ** (n - 1))),  # json's own limit is 4,300
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
    st.integers(65, 900).map(nested),  # json recurses: about 900 fits its stack
)


@st.composite
def with_values(draw: st.DrawFn, documents: st.SearchStrategy[Any]) -> Any:
    """A document from `documents` with hostile values in one or two places inside it
    (its own shape is the parser's: boto3 gives the Health API's, Lambda an object)."""
    document = draw(documents)
    places = _places(document)[1:]
    for _ in range(draw(st.integers(1, 2)) if places else 0):
        document = _put(document, draw(st.sampled_from(places)), draw(values))
    return document
