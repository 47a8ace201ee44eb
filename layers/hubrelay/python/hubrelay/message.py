"""The queue message contract: how findings travel through SQS.

A message body is JSON: ``{"version": 1, "findings": [<ASFF finding>, ...]}`` with one or
more findings, the whole body under the queue's maximum message size. Any producer (the
collector, a vendor's own system, a test) may write it; the importer reads it. Version 1 is
stable: new optional keys may be added, existing ones never change meaning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hubrelay import loading
from hubrelay.errors import PermanentError
from hubrelay.settings import DEFAULT_MAX_MESSAGE_BYTES

VERSION = 1
_ENVELOPE_OVERHEAD = len(json.dumps({"version": VERSION, "findings": []}))


class MessageError(PermanentError, ValueError):
    """A message body that does not follow the contract: retrying cannot fix it."""


def decode(body: str, *, what: str = "body") -> list[dict[str, Any]]:
    """The findings of one message body; MessageError says what is wrong with it, naming
    the body as `what` ("message <id>") when the policy of hubrelay.loading refuses it."""
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
    return findings


def encode(findings: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps({"version": VERSION, "findings": list(findings)})


def pack_messages(
    findings: Iterable[Mapping[str, Any]], max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
) -> Iterator[str]:
    """Message bodies holding as many findings as fit, in order.

    A finding too big for a message on its own raises MessageError: callers validate
    findings first (240 KB per finding fits in the default 256 KiB message).
    """
    batch: list[str] = []
    size = _ENVELOPE_OVERHEAD
    for finding in findings:
        text = json.dumps(finding)
        cost = len(text.encode()) + (2 if batch else 0)
        if _ENVELOPE_OVERHEAD + len(text.encode()) > max_bytes:
            raise MessageError(
                f"finding {str(finding.get('Id'))[:120]!r} is {len(text.encode())} bytes, "
                f"over the {max_bytes}-byte message limit"
            )
        if batch and size + cost > max_bytes:
            yield _join(batch)
            batch, size = [], _ENVELOPE_OVERHEAD
            cost = len(text.encode())
        batch.append(text)
        size += cost
    if batch:
        yield _join(batch)


def _join(parts: list[str]) -> str:
    return '{"version": 1, "findings": [' + ", ".join(parts) + "]}"
