"""A small HTTP client for hubrelay's outbound calls (webhooks, vendor APIs).

Standard library only (urllib). Every call has a timeout; 429, 5xx and connection errors
are retried with exponential backoff and full jitter, honouring `Retry-After` (seconds or
an HTTP date) up to `max_backoff_s`. Other 4xx responses are not retried: the request is
wrong and sending it again will not fix it. Plain http is refused except to loopback
addresses (local tests and the local stack).
"""

from __future__ import annotations

import email.utils
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

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


class HttpError(Exception):
    """A request that failed for good: `status` None means no response at all."""

    def __init__(self, message: str, *, status: int | None, attempts: int) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


@dataclass
class Client:
    timeout_s: float = 10.0
    max_attempts: int = 3
    base_backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    sleep: Callable[[float], None] = lambda seconds: time.sleep(seconds)
    user_agent: str = "hubrelay/0.1"
    _random: random.Random = field(default_factory=random.Random, repr=False)

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
        for attempt in range(1, self.max_attempts + 1):
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
            if attempt < self.max_attempts:
                self.sleep(self._delay(attempt, retry_after))
        raise HttpError(
            f"gave up after {self.max_attempts} attempts: {last}",
            status=status,
            attempts=self.max_attempts,
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff_s)
        ceiling = min(self.max_backoff_s, self.base_backoff_s * 2 ** (attempt - 1))
        return self._random.uniform(0, ceiling)


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
