"""The collector's error report: every record it could not map or validate, kept in S3.

A JSON object under `<errors_prefix><source>/YYYY/MM/DD/` in the stack's reports bucket,
written before the cursor moves past the records it names, so every skipped record can be
found there (docs/operations.md).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay.observability import logger

MAX_ERROR_RECORD_CHARS = 8_192


class ErrorReport:
    def __init__(self, s3: Any, bucket: str, prefix: str, source: str) -> None:
        self.s3, self.bucket, self.prefix, self.source = s3, bucket, prefix, source
        self.pending: list[dict[str, Any]] = []

    def add(self, position: str, reason: str, native: Any) -> None:
        logger.warning("malformed record skipped", position=position, reason=reason[:2000])
        text = json.dumps(native, default=str) if native is not None else None
        if text is not None and len(text) > MAX_ERROR_RECORD_CHARS:
            text = text[:MAX_ERROR_RECORD_CHARS] + "...(cut)"
        self.pending.append({"position": position, "reason": reason, "record": text})

    def flush(self, now: datetime, best_effort: bool = False) -> str | None:
        """Write what is pending; the object's s3:// URL, or None when nothing was written."""
        if not self.pending:
            return None
        if not (self.s3 and self.bucket):
            self.pending.clear()  # logged already; nowhere else to keep them
            return None
        key = f"{self.prefix}{self.source}/{now:%Y/%m/%d/%H%M%S}-{uuid.uuid4().hex[:12]}.json"
        document = {"source": self.source, "errors": self.pending}
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=json.dumps(document, indent=1).encode(),
                ContentType="application/json",
            )
        except (ClientError, BotoCoreError):
            if not best_effort:
                raise
            return None
        self.pending = []
        return f"s3://{self.bucket}/{key}"
