"""A small HTTP client for hubrelay's outbound calls (webhooks, vendor APIs).

Standard library only (urllib). Every call has a timeout; 429, 5xx and connection errors
are retried with the one retry helper (`hubrelay.retry.Retry`: exponential backoff, full
jitter), honouring `Retry-After` (seconds or an HTTP date) up to its cap. Other 4xx
responses are not retried: the request is wrong and sending it again will not fix it.
Plain http is refused except to loopback addresses (local tests and the local stack).

Hostile or broken peers cost nothing but their own request: redirects are never followed
(a 3xx is an error: following one would send a bearer token or a signed body to another
origin, or turn a POST into a bodiless GET); a reply body is read up to `max_reply_bytes`
and no further; a malformed reply (bad status line, truncated body, over-long header) is a
failed attempt like a dropped connection; and no error message carries the URL's user
information (`https://user:password@host/`), which is refused before any request.
"""

from __future__ import annotations

import email.utils
import http.client
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
DEFAULT_MAX_REPLY_BYTES = 1024 * 1024


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        # Returning None makes urllib raise the 3xx as an HTTPError instead of following it.
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


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
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES

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
                with _OPENER.open(request, timeout=self.timeout_s) as reply:
                    content = _read_capped(reply, self.max_reply_bytes)
                    return Response(reply.status, dict(reply.headers), content, attempt)
            except urllib.error.HTTPError as error:
                status = error.code
                text = _error_text(error)
                last = f"HTTP {status}: {text}".strip()
                if 300 <= status < 400:
                    last = f"HTTP {status}: redirects are not followed"
                if status not in RETRYABLE_STATUS:
                    raise HttpError(last, status=status, attempts=attempt) from None
                retry_after = parse_retry_after(error.headers.get("Retry-After"))
            except OSError as error:
                # URLError, timeouts, refused or reset connections, TLS failures (ssl.SSLError)
                # while reading the reply: every one a failed attempt.
                status = None
                reason = getattr(error, "reason", error)
                last = f"no response: {_without_url(str(reason), url)}"
            except http.client.HTTPException as error:
                # BadStatusLine, IncompleteRead, LineTooLong...: a reply we cannot trust.
                status = None
                last = f"malformed reply: {type(error).__name__}"
            except _ReplyTooLarge as error:
                raise HttpError(str(error), status=None, attempts=attempt) from None
            if not self.retry.pause(attempt, retry_after):
                raise HttpError(
                    f"gave up after {attempt} attempts: {last}", status=status, attempts=attempt
                )


class _ReplyTooLarge(Exception):
    pass


def _read_capped(reply: Any, limit: int, cut: bool = False) -> bytes:
    """At most `limit` bytes of a reply body; more is an error unless `cut` (error texts)."""
    content = reply.read(limit + 1)
    if len(content) > limit:
        if cut:
            return bytes(content[:limit])
        raise _ReplyTooLarge(f"reply body over {limit} bytes: not read")
    declared = str(reply.headers.get("Content-Length") or "")
    if not cut and declared.isdigit() and len(content) < int(declared):
        # read(n) returns what arrived before the peer closed: a body cut short.
        raise http.client.IncompleteRead(content, int(declared) - len(content))
    return bytes(content)


def _error_text(error: urllib.error.HTTPError) -> str:
    """The head of an error reply's body, for the reason; a body that cannot be read (cut
    short, a broken chunk) is not a second error."""
    try:
        return _read_capped(error, _MAX_ERROR_BODY, cut=True).decode("utf-8", "replace")
    except (http.client.HTTPException, OSError, ValueError):
        return ""


def _without_url(text: str, url: str) -> str:
    # Some failures quote the URL, which may hold a token in its query.
    return text.replace(url, "<url>")


def check_url(url: str) -> None:
    """Refuse anything but https (http only to loopback, for local runs), and URLs with
    user information, without repeating any of it."""
    try:
        parts = urlsplit(url)
        has_userinfo = parts.username is not None or parts.password is not None
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("refusing a URL that cannot be parsed") from None
    if has_userinfo:
        raise ValueError(
            "refusing a URL with user information (user:password@): keep credentials in the "
            "secret's token, not in the URL"
        )
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
