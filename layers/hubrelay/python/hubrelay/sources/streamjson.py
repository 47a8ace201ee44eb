"""Large JSON reports read as a stream, in two passes, without holding the document.

A scanner report of tens of MB parses into several times its size in objects (a 50 MB
Trivy report took the collector to 9.6 times its imports alone: bench/memory.py). Its
records sit in a few arrays (`SPEC`): the first pass (`skeleton`) reads everything else
into a document whose record arrays are left empty (`Elided`, with their length), so the
format, the scope and the completeness of the scan are known before any record is sent;
the second pass (`elements`) yields the records one at a time, with their place.

Each element, and each value outside the record arrays, is parsed whole by the json
module's C scanner (`raw_decode`) from a window over the stream, under the loading policy
(hubrelay.loading: no NaN or Infinity, integers of at most 64 digits, nesting of at most
64 levels); only the structure around the record arrays is walked here. Text is decoded
strictly (UTF-8 unless a byte-order mark says otherwise, as `json.loads` detects it).
No dependency: ijson would need a compiled backend in the Lambda layer to be as fast.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import IO, Any

from hubrelay import loading
from hubrelay.loading import LoadError

LEAF = "leaf"  # an array whose elements are records
Spec = Mapping[str, Any]  # key -> LEAF or a nested Spec; "*" stands for every array item
# Where the records of the formats read as a stream are: Trivy's lists in each result,
# Grype's matches, each SARIF run's results, ASFF's Findings, or the findings of a file
# that is a bare array ("*" at the top).
# Packages, of `--list-all-pkgs`, are no records: elided, so the skeleton never holds them.
_LISTS = ("Vulnerabilities", "Misconfigurations", "Secrets", "Licenses", "Packages")
_TRIVY_RESULTS: Spec = {"*": dict.fromkeys(_LISTS, LEAF)}
SPEC: Spec = {
    "Results": _TRIVY_RESULTS,
    # The resources of a `trivy k8s` report, each with its Results (its Findings, of
    # `--report summary`, are read whole one by one, as ASFF's are: "Findings" below).
    "Resources": {"*": {"Results": _TRIVY_RESULTS}},
    "Vulnerabilities": {"*": {"Results": _TRIVY_RESULTS}},
    "Misconfigurations": {"*": {"Results": _TRIVY_RESULTS}},
    "matches": LEAF,
    "runs": {"*": {"results": LEAF}},
    "Findings": LEAF,
    "*": LEAF,
}
# The keys of SPEC that make an object a report, not the first finding of a JSON Lines file:
# an ASFF finding has Resources and Vulnerabilities of its own (a k8s report's are arrays of
# objects with Results, and the report has a ClusterName).
_REPORT_KEYS = (SPEC.keys() - {"Resources", "Vulnerabilities"}) | {"ClusterName"}
CHUNK = 1 << 16
_WHITESPACE = " \t\n\r"
_NUMBER_CHARS = frozenset("0123456789.eE+-")
_NUMBER_TAIL = 32  # characters of a number's fraction or exponent cut off by a chunk

Path = tuple[str | int, ...]
# A pass's steps: (path, record) as they come; the generator returns the value it read.
Walked = Generator[tuple[Path, Any], None, Any]


class Elided(list[Any]):
    """A record array of the skeleton: empty here, `length` elements in the report."""

    def __init__(self, length: int) -> None:
        super().__init__()
        self.length = length


class _Window:
    """The characters of a binary stream, decoded as they are needed."""

    def __init__(self, stream: IO[bytes], what: str) -> None:
        self.stream, self.what = stream, what
        first = stream.read(CHUNK)
        encoding = json.detect_encoding(first) if first else "utf-8"
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self.text, self.pos, self.eof = "", 0, False
        self.dropped = 0  # characters of the stream before `text`
        self.encoding, self.read_bytes = encoding, 0  # bytes handed to the decoder
        self.start = first[:2]  # a gzip member's magic number says what the error is
        self._add(first)

    def _add(self, data: bytes) -> None:
        pending = len(self.decoder.getstate()[0])  # bytes of a character cut by the chunk
        try:
            decoded = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            # The byte of the stream, in load_json's words (the same file read whole).
            at = self.read_bytes - pending + exc.start
            reason = loading.encoding_reason(self.encoding, exc, at, self.start)
            raise LoadError(self.what, reason, kind="encoding") from None
        self.read_bytes += len(data)
        self.dropped += self.pos
        self.text = self.text[self.pos :] + decoded
        self.pos = 0
        self.eof = not data

    def more(self, at_least: int = CHUNK) -> bool:
        """Read on (at least `at_least` bytes); False at the end of the stream."""
        if self.eof:
            return False
        self._add(self.stream.read(max(CHUNK, at_least)))
        return True

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end), not consumed."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text) or not self.more():
                return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.error(f"expected {char!r}")
        self.pos += 1

    def value(self, decoder: json.JSONDecoder) -> Any:
        """The next JSON value, parsed whole."""
        self.peek()
        last: tuple[str, int] | None = None
        while True:
            start = len(self.text) - self.pos
            try:
                found, end = decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                # Incomplete so far, or wrong: read on (doubling, so a large value costs
                # linear time). The same error at the same place with more text read is
                # wrong whatever follows (an unterminated string excepted, whose error is
                # where it starts): refused then, not after reading to the end.
                error = (exc.msg, self.dropped + exc.pos)
                again = error == last and not exc.msg.startswith("Unterminated string")
                last = error
                if not again and self.more(2 * start):
                    continue
                raise LoadError(
                    self.what, f"not JSON: {exc.msg} (char {error[1]})", kind="syntax"
                ) from None
            # A number that ends the window ("1." of "1.5") may go on in the next bytes.
            if self._number_tail(end) and self.more():
                continue
            self.pos = end
            return found

    def _number_tail(self, end: int) -> bool:
        tail = len(self.text) - end
        return tail == 0 or (tail <= _NUMBER_TAIL and set(self.text[end:]) <= _NUMBER_CHARS)

    def error(self, reason: str) -> LoadError:
        near = self.text[self.pos : self.pos + 40]
        where = self.dropped + self.pos
        return LoadError(
            self.what, f"not JSON: {reason} near {near!r} (char {where})", kind="syntax"
        )


class _Walk:
    """One pass over a report: the skeleton, and the record elements as they come."""

    def __init__(self, stream: IO[bytes], what: str) -> None:
        self.window, self.what = _Window(stream, what), what
        self.decoder = loading.marking_decoder()

    def value(self, path: Path) -> Any:
        """The value at `path`, parsed whole, under the loading policy: the same reasons
        as `loading.load_json` gives, with the path from the top of the document."""
        try:
            found = self.window.value(self.decoder)
        except RecursionError:  # the C parser's own limit, far beyond MAX_DEPTH
            raise LoadError(
                self.what, loading.DEPTH_REASON, kind="depth", path=_shown(path)
            ) from None
        try:
            loading.check_value(found, what=self.what, depth=len(path))
        except LoadError as exc:
            inner = "" if exc.path == "(top)" else exc.path
            where = _shown(path) + ("" if not inner or inner[0] == "[" else ".") + inner
            raise LoadError(
                self.what, exc.reason, kind=exc.kind, path=where.lstrip(".") or "(top)"
            ) from None
        return found

    def document(self) -> Walked:
        """Elements of the record arrays; the skeleton last, with the path ()."""
        skeleton = yield from self.node(SPEC, ())
        if self.window.peek() != "":
            # JSON Lines, as loading.load_json_values reads them: objects one after
            # another are the elements of a bare array, unless the first held records.
            if not isinstance(skeleton, dict) or skeleton.keys() & _REPORT_KEYS:
                raise self.window.error("text after the JSON document")
            skeleton = yield from self.sequence(skeleton)
        yield (), skeleton

    def sequence(self, first: Any) -> Walked:
        """The values after the first of a JSON Lines file, each with its place (i,)."""
        yield (0,), first
        count = 1
        while self.window.peek() != "":
            where = (count,)
            yield where, self.value(where)
            count += 1
        return Elided(count)

    def node(self, spec: Any, path: Path) -> Walked:
        if len(path) > loading.MAX_DEPTH:
            raise LoadError(self.what, loading.DEPTH_REASON, kind="depth", path=_shown(path))
        nxt = self.window.peek()
        if spec == LEAF and nxt == "[":
            return (yield from self.leaf(path))
        if isinstance(spec, Mapping) and nxt == "{":
            return (yield from self.members(spec, path))
        if isinstance(spec, Mapping) and nxt == "[" and "*" in spec:
            inner = spec["*"]
            return (yield from (self.leaf(path) if inner == LEAF else self.items(inner, path)))
        return self.value(path)  # not where records are: read whole

    def members(self, spec: Spec, path: Path) -> Walked:
        self.window.expect("{")
        out: dict[str, Any] = {}
        if self.window.peek() == "}":
            self.window.pos += 1
            return out
        while True:
            key = self.window.value(self.decoder)
            if not isinstance(key, str):
                raise self.window.error("expected a string key")
            self.window.expect(":")
            inner = spec.get(key) if key != "*" else None  # "*" is for array items
            if inner is not None and key in out:
                # json keeps the last copy of a name; a stream has sent the records of the
                # first by then. RFC 8259 (4): with names not unique "the behavior of
                # software that receives such an object is unpredictable".
                raise LoadError(
                    self.what, f"duplicate key {key!r}", kind="syntax", path=_shown(path) or "(top)"
                )
            out[key] = (
                (yield from self.node(inner, (*path, key)))
                if inner is not None
                else self.value((*path, key))
            )
            if not self._next("}"):
                return out

    def items(self, spec: Any, path: Path) -> Walked:
        self.window.expect("[")
        out: list[Any] = []
        if self.window.peek() == "]":
            self.window.pos += 1
            return out
        while True:
            out.append((yield from self.node(spec, (*path, len(out)))))
            if not self._next("]"):
                return out

    def leaf(self, path: Path) -> Walked:
        self.window.expect("[")
        count = 0
        if self.window.peek() == "]":
            self.window.pos += 1
            return Elided(0)
        while True:
            where = (*path, count)
            yield where, self.value(where)
            count += 1
            if not self._next("]"):
                return Elided(count)

    def _next(self, close: str) -> bool:
        """After a member or item: True when another follows, False at `close`."""
        nxt = self.window.peek()
        self.window.pos += 1
        if nxt == ",":
            return True
        if nxt == close:
            return False
        self.window.pos -= 1
        raise self.window.error(f"expected ',' or {close!r}")


def _shown(path: Path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def skeleton(stream: IO[bytes], what: str, each: Callable[[Path, Any], None] | None = None) -> Any:
    """The first pass: the document without its records (each record array an `Elided`),
    after reading (and checking) every record, each shown to `each` with its path (what a
    format must know of all its records before the first is sent: ASFF's duplicate Ids);
    LoadError when any of it breaks the policy."""
    for path, found in _Walk(stream, what).document():
        if path == ():
            return found
        if each is not None:
            each(path, found)
    raise LoadError(what, "empty", kind="syntax")  # pragma: no cover - document() ends so


def elements(stream: IO[bytes], what: str) -> Iterator[tuple[Path, Any]]:
    """The second pass: each record with its path, in the report's order."""
    for path, found in _Walk(stream, what).document():
        if path != ():
            yield path, found
