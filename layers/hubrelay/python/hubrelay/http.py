"""A small HTTP client for hubrelay's outbound calls (webhooks, vendor APIs).

Standard library only (urllib). Every call has a timeout; 429, 5xx and connection errors
are retried with the one retry helper (`hubrelay.retry.Retry`: exponential backoff, full
jitter), honouring `Retry-After` (seconds or an HTTP date) up to its cap. Other 4xx
responses are not retried: the request is wrong and sending it again will not fix it.
Plain http is refused except to loopback addresses (local tests and the local stack).
"""

from __future__ import annotations

import email.utils
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from hubrelay.errors import HubrelayError
from hubrelay.retry import Retry

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_MAX_ERROR_BODY = 300


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes
    attempts: int = 1

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class HttpError(HubrelayError):
    """A request that failed for good: `status` None means no response at all."""

    def __init__(self, message: str, *, status: int | None, attempts: int) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.transient = status is None or status in RETRYABLE_STATUS


@dataclass
class Client:
    timeout_s: float = 10.0
    retry: Retry = field(default_factory=lambda: Retry(max_attempts=3, base_s=0.5))
    user_agent: str = "hubrelay/0.1"

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        check_url(url)
        all_headers = {"User-Agent": self.user_agent, **(headers or {})}
        last = "no attempt made"
        status: int | None = None
        attempt = 0
        while True:
            attempt += 1
            request = urllib.request.Request(  # noqa: S310 - scheme checked by check_url
                url, data=body, headers=all_headers, method=method
            )
            retry_after: float | None = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:  # noqa: S310
                    return Response(reply.status, dict(reply.headers), reply.read(), attempt)
            except urllib.error.HTTPError as error:
                status = error.code
                text = error.read()[:_MAX_ERROR_BODY].decode("utf-8", "replace")
                last = f"HTTP {status}: {text}".strip()
                if status not in RETRYABLE_STATUS:
                    raise HttpError(last, status=status, attempts=attempt) from None
                retry_after = parse_retry_after(error.headers.get("Retry-After"))
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                status = None
                reason = getattr(error, "reason", error)
                last = f"no response: {reason}"
            if not self.retry.pause(attempt, retry_after):
                raise HttpError(
                    f"gave up after {attempt} attempts: {last}", status=status, attempts=attempt
                )


def check_url(url: str) -> None:
    """Refuse anything but https (http only to loopback, for local runs)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return
    raise ValueError(f"refusing URL with scheme {parts.scheme!r}: only https is allowed")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - (now or datetime.now(UTC))).total_seconds(), 0.0)
