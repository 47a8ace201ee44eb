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

from hubrelay import loading
from hubrelay.delivery import Ref
from hubrelay.errors import PermanentError
from hubrelay.observability import logger
from hubrelay.settings import DEFAULT_MAX_MESSAGE_BYTES

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
    return findings, _refs(document.get("tracking"), len(findings))


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
    """Message bodies holding as many findings as fit, in order; with `refs` (aligned with
    `findings`) each message also says which tracking row each finding came from.

    A finding too big for a message on its own raises MessageError: callers validate
    findings first (240 KB per finding fits in the default 256 KiB message).
    """
    findings = list(findings)
    tracked = refs is not None
    entries = [json.dumps(ref_entry(ref)) for ref in refs] if refs is not None else []
    if tracked and len(entries) != len(findings):
        raise ValueError("refs must be aligned with findings")
    overhead = _TRACKED_OVERHEAD if tracked else _ENVELOPE_OVERHEAD
    # Each finding after the first costs ", " in the findings array, and in the tracking one.
    separators = 4 if tracked else 2
    batch: list[tuple[str, str]] = []
    size = overhead
    for index, finding in enumerate(findings):
        # json.dumps escapes every non-ASCII character: its length is its size in bytes.
        text, entry = json.dumps(finding), entries[index] if tracked else ""
        own = len(text) + len(entry)
        if overhead + own > max_bytes:
            raise MessageError(
                f"finding {str(finding.get('Id'))[:120]!r} is {len(text)} bytes, "
                f"over the {max_bytes}-byte message limit"
            )
        if batch and size + own + separators > max_bytes:
            yield _join(batch, tracked)
            batch, size = [], overhead
        size += own + (separators if batch else 0)
        batch.append((text, entry))
    if batch:
        yield _join(batch, tracked)


_TRACKED_OVERHEAD = len(json.dumps({"version": VERSION, "findings": [], "tracking": []}))


def _join(parts: list[tuple[str, str]], tracked: bool) -> str:
    findings = ", ".join(text for text, _ in parts)
    if not tracked:
        return f'{{"version": 1, "findings": [{findings}]}}'
    tracking = ", ".join(entry for _, entry in parts)
    return f'{{"version": 1, "findings": [{findings}], "tracking": [{tracking}]}}'
