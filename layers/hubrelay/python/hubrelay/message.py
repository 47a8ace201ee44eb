"""The queue message contract: how findings travel through SQS.

A message body is JSON: ``{"version": 1, "findings": [<ASFF finding>, ...]}`` with one or
more findings, the whole body under the queue's maximum message size. Any producer (the
collector, a vendor's own system, a test) may write it; the importer reads it. Version 1 is
stable: new optional keys may be added, existing ones never change meaning.

Optional key ``"tracking"`` (added for delivery feedback, `hubrelay.delivery`): an array
aligned with ``findings``, each entry ``[scope, base Id]`` (``[scope, base Id, "retry"]``
for a re-send of an undelivered finding) naming the change-tracking row the finding was
sent from, or ``null``. The collector writes it; other producers leave it out. A
``tracking`` value that does not follow this is ignored (the findings are still imported,
without feedback), never a reason to refuse the message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hubrelay import asff, loading
from hubrelay.delivery import Ref
from hubrelay.errors import PermanentError
from hubrelay.observability import logger
from hubrelay.packing import Sized, lower_bound, pack
from hubrelay.settings import DEFAULT_MAX_MESSAGE_BYTES, MAX_FINDINGS_PER_CALL

VERSION = 1
_ENVELOPE_OVERHEAD = len(json.dumps({"version": VERSION, "findings": []}))


class MessageError(PermanentError, ValueError):
    """A message body that does not follow the contract: retrying cannot fix it."""


def decode(body: str, *, what: str = "body") -> list[dict[str, Any]]:
    """The findings of one message body; MessageError says what is wrong with it, naming
    the body as `what` ("message <id>") when the policy of hubrelay.loading refuses it."""
    return read(body, what=what)[0]


def read(body: str, *, what: str = "body") -> tuple[list[dict[str, Any]], list[Ref | None]]:
    """The findings of one message body and, aligned with them, the tracking row each was
    sent from (None when the message does not say); MessageError says what is wrong."""
    findings, _, refs = read_texts(body, what=what)
    return findings, refs


def read_texts(
    body: str, *, what: str = "body"
) -> tuple[list[dict[str, Any]], list[str] | None, list[Ref | None]]:
    """`read`, with each finding's JSON text as the body holds it (None when the body is
    not laid out as json.dumps writes it: then the findings come from reading it whole).

    The collector's bodies, and any written by json.dumps, are read one finding at a time
    with the loading policy's parser: each finding's text is then a slice of the body,
    and the importer takes a finding's size from it instead of serializing the finding
    again. The texts are given only when the first finding's is json.dumps' of it (one
    serialization a message, of up to 100 findings): a producer that begins its body as
    json.dumps does but writes its findings otherwise (compact, other number forms) gets
    them serialized, so that their sizes are exact. Any other layout, and any body this
    reading has a doubt about, is read whole by loading.load_json, which gives the same
    findings or says what is wrong.
    """
    split = _split(body)
    if split is not None:
        findings, texts, tracking = split
        exact = texts[0] == asff.finding_json(findings[0])
        return findings, texts if exact else None, _refs(tracking, len(findings))
    findings, tracking = _read_whole(body, what)
    return findings, None, _refs(tracking, len(findings))


def _read_whole(body: str, what: str) -> tuple[list[dict[str, Any]], Any]:
    """(findings, the "tracking" value) of a body read by loading.load_json."""
    try:
        document = loading.load_json(body, what=what)
    except loading.LoadError as exc:
        raise MessageError(str(exc)) from exc
    if not isinstance(document, dict):
        raise MessageError(f"body is a JSON {type(document).__name__}, not an object")
    version = document.get("version")
    if version != VERSION:
        raise MessageError(f"unsupported version {version!r} (expected {VERSION})")
    findings = document.get("findings")
    if not isinstance(findings, list) or not findings:
        raise MessageError("'findings' must be a non-empty array")
    for i, finding in enumerate(findings):
        if not isinstance(finding, dict):
            raise MessageError(f"findings[{i}] is a JSON {type(finding).__name__}, not an object")
    return findings, document.get("tracking")


# How json.dumps (and _join) begins a version 1 body: its findings array comes first.
_HEAD = json.dumps({"version": VERSION, "findings": []})[:-2]
_FIRST_KEYS = frozenset(("version", "findings"))


def _split(body: str) -> tuple[list[dict[str, Any]], list[str], Any] | None:
    """(findings, their texts, the "tracking" value) of a body that begins as json.dumps
    writes one, each finding parsed under the loading policy; None for anything else,
    which load_json then reads (the same result, or the error it names). The findings
    are one level inside the findings array, inside the body: two levels of depth."""
    if not body.startswith(_HEAD):
        return None
    refused: list[Any] = []
    scan = loading.marking_decoder(refused.append).raw_decode
    findings: list[dict[str, Any]] = []
    texts: list[str] = []
    start = len(_HEAD)
    while True:
        try:
            finding, end = scan(body, start)
        except (ValueError, RecursionError):
            return None
        text = body[start:end]
        if type(finding) is not dict or refused or loading.too_deep(text, above=2):
            return None
        findings.append(finding)
        texts.append(text)
        if body.startswith(", ", end):
            start = end + 2
        elif body.startswith("]", end):
            break
        else:
            return None
    rest = body[end + 1 :]
    if rest == "}":
        return findings, texts, None
    if not rest.startswith(", "):
        return None
    try:
        others = loading.load_json("{" + rest[2:], what="body")
    except loading.LoadError:
        return None
    # A second "version" or "findings" would be the one json.loads keeps, and no member at
    # all is a trailing comma (", }"), which json.loads refuses: read it whole.
    if not isinstance(others, dict) or not others or not others.keys().isdisjoint(_FIRST_KEYS):
        return None
    return findings, texts, others.get("tracking")


def _refs(value: Any, count: int) -> list[Ref | None]:
    if value is None:
        return [None] * count
    if not isinstance(value, list) or len(value) != count:
        logger.warning("message 'tracking' ignored: not an array aligned with 'findings'")
        return [None] * count
    return [_ref(entry) for entry in value]


def _ref(entry: Any) -> Ref | None:
    if (
        isinstance(entry, list)
        and len(entry) in (2, 3)
        and all(isinstance(part, str) and part for part in entry)
    ):
        return Ref(entry[0], entry[1], retry=entry[2:] == ["retry"])
    return None


def ref_entry(ref: Ref | None) -> list[str] | None:
    if ref is None:
        return None
    return [ref.scope, ref.key, "retry"] if ref.retry else [ref.scope, ref.key]


def encode(findings: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps({"version": VERSION, "findings": list(findings)})


def pack_messages(
    findings: Iterable[Mapping[str, Any]],
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    refs: Iterable[Ref | None] | None = None,
) -> Iterator[str]:
    """Message bodies of one (ProductArn, account) each, holding at most the findings of one
    BatchImportFindings call (100) and as many as fit, in order; with `refs` (aligned with
    `findings`) each message also says which tracking row each finding came from.

    One call's worth of one group per message makes the importer's calls follow the
    messages: whatever whole messages an invocation receives, each group's findings in it
    come in multiples of 100 but for its last message, so the importer's packing fills
    every call (hubrelay.packing). When findings in order would need more messages than
    the fewest possible (a run of large findings over the byte limit), they are packed by
    the one batching function instead, in order within each message.

    A finding too big for a message on its own raises MessageError: callers validate
    findings first (240 KB per finding fits in the default message).
    """
    tracked = refs is not None
    entries = [json.dumps(ref_entry(ref)) for ref in refs] if refs is not None else []
    overhead = _TRACKED_OVERHEAD if tracked else _ENVELOPE_OVERHEAD
    # Each finding after the first costs ", " in the findings array, and in the tracking one.
    separators = 4 if tracked else 2
    groups: dict[tuple[str, str], list[tuple[int, str, str, int]]] = {}
    # Each finding is read once and kept as its JSON text only, so findings given one at a
    # time (`hubrelay convert`) are never all held as objects.
    count = 0
    for index, finding in enumerate(findings):
        count = index + 1
        if tracked and index >= len(entries):
            raise ValueError("refs must be aligned with findings")
        # json.dumps escapes every non-ASCII character: its length is its size in bytes.
        text, entry = asff.finding_json(finding), entries[index] if tracked else ""
        own = len(text) + len(entry)
        if overhead + own > max_bytes:
            raise MessageError(
                f"finding {str(finding.get('Id'))[:120]!r} is {len(text)} bytes, "
                f"over the {max_bytes}-byte message limit"
            )
        key = (str(finding.get("ProductArn", "")), str(finding.get("AwsAccountId", "")))
        groups.setdefault(key, []).append((index, text, entry, own + separators))
    if tracked and count != len(entries):
        raise ValueError("refs must be aligned with findings")
    # The first finding of a message costs no separator: the room is that much larger.
    room = max_bytes - overhead + separators
    messages = [m for group in groups.values() for m in _messages_of(group, room)]
    for parts in sorted(messages, key=lambda m: m[0][0]):
        yield _join([(text, entry) for _, text, entry, _ in parts], tracked)


Part = tuple[int, str, str, int]  # (index in the input, finding JSON, tracking entry, cost)


def _messages_of(parts: list[Part], room: int) -> list[list[Part]]:
    """One group's findings into messages: in order, or by hubrelay.packing when that takes
    fewer messages (then in order within each)."""
    in_order: list[list[Part]] = []
    size = room
    for part in parts:
        if size + part[3] > room or len(in_order[-1]) >= MAX_FINDINGS_PER_CALL:
            in_order.append([])
            size = 0
        in_order[-1].append(part)
        size += part[3]
    if len(in_order) <= lower_bound([p[3] for p in parts], room):
        return in_order
    packed = [sorted(call.items) for call in pack((Sized(p, (), p[3]) for p in parts), room)]
    return packed if len(packed) < len(in_order) else in_order


_TRACKED_OVERHEAD = len(json.dumps({"version": VERSION, "findings": [], "tracking": []}))


def _join(parts: list[tuple[str, str]], tracked: bool) -> str:
    findings = ", ".join(text for text, _ in parts)
    if not tracked:
        return f'{{"version": 1, "findings": [{findings}]}}'
    tracking = ", ".join(entry for _, entry in parts)
    return f'{{"version": 1, "findings": [{findings}], "tracking": [{tracking}]}}'
