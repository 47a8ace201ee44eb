"""Quarantine: findings retrying cannot import, kept in the dead-letter queue with why.

Each quarantined finding (or unreadable message) becomes one DLQ message: the finding as a
queue message body (cut to fit SQS, saying so), with attributes naming the error code, the
reason, the finding Id and the source message ids (docs/operations.md documents them and
how to redrive by code).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hubrelay import message, sqs
from hubrelay.delivery import Undelivered
from hubrelay.observability import logger
from hubrelay.retry import Retry

# Room kept in each DLQ message for its attributes.
ATTRIBUTE_ROOM = 8 * 1024
_NOT_SQS_TEXT = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Quarantined:
    origins: tuple[str, ...]
    finding_id: str
    code: str
    reason: str
    body: str
    # Set when tracking is to be told (an outside cause, a tracked send): hubrelay.delivery.
    undelivered: Undelivered | None = None


def fit(body: str, limit: int) -> str:
    """`body`, or as much of its head as fits in `limit` bytes once escaped, saying so."""
    original = len(body.encode())
    keep = limit - 200
    while len(body.encode()) > limit:
        head = body.encode()[:keep].decode(errors="ignore")
        body = json.dumps({"truncated": True, "originalBytes": original, "head": head})
        keep //= 2
    return body


def dlq_entry(q: Quarantined) -> sqs.Entry:
    def attr(value: str) -> dict[str, str]:
        # SQS refuses control characters in attribute values; a finding Id may hold any.
        return {"DataType": "String", "StringValue": _NOT_SQS_TEXT.sub("?", value) or "-"}

    return {
        "MessageBody": q.body,
        "MessageAttributes": {
            "hubrelay.ErrorCode": attr(q.code),
            "hubrelay.ErrorMessage": attr(q.reason),
            "hubrelay.FindingId": attr(q.finding_id[:512]),
            "hubrelay.SourceMessageIds": attr(",".join(q.origins)[:1024]),
        },
    }


class Quarantine:
    """The quarantined findings of one invocation, written to the DLQ by `flush`."""

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        self.entries: list[Quarantined] = []

    def add(
        self,
        origins: Sequence[str],
        finding_id: str,
        code: str,
        reason: str,
        payload: Any,
        undelivered: Undelivered | None = None,
    ) -> None:
        body = payload if isinstance(payload, str) else message.encode([payload])
        body = fit(body, self.max_message_bytes - ATTRIBUTE_ROOM)
        entry = Quarantined(tuple(origins), finding_id, code, reason[:4000], body, undelivered)
        self.entries.append(entry)
        logger.warning(
            "finding quarantined", finding_id=finding_id, code=code, reason=reason[:1000]
        )

    def flush(self, client: Any, queue_url: str, retry: Retry) -> set[str]:
        """Write every entry to the DLQ; the source message ids of those not written, which
        SQS must deliver again (they are kept nowhere yet)."""
        entries = [dlq_entry(q) for q in self.entries]
        owner = {id(entry): q for entry, q in zip(entries, self.entries, strict=True)}
        report = sqs.send_entries(
            client, queue_url, entries, max_bytes=self.max_message_bytes, retry=retry
        )
        failed: set[str] = set()
        for entry, why in report.unsent:
            q = owner[id(entry)]
            logger.error("quarantine write failed", finding_id=q.finding_id, reason=why)
            failed |= set(q.origins)
        return failed
