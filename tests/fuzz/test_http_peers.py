"""Fuzzing the outbound HTTP client with hostile peers on 127.0.0.1: whatever bytes a
server answers (status lines, headers, redirects, lengths that lie, bodies of any size),
the client returns a Response or raises HttpError, and never follows a redirect."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubrelay import http
from hubrelay.retry import Retry
from tests.fuzz.harness import FUZZ, STATS, bounded


class RawPeer:
    """A TCP server on 127.0.0.1 that answers each connection with `reply`, then closes."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.reply = b""
        self.connections = 0
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                connection.settimeout(2)
                try:
                    connection.recv(65536)
                    connection.sendall(self.reply)
                except OSError:
                    pass


@pytest.fixture(scope="module")
def peer() -> Iterator[RawPeer]:
    server = RawPeer()
    yield server
    server.listener.close()


statuses = st.one_of(
    st.sampled_from([200, 204, 301, 302, 303, 307, 308, 429, 500, 503]), st.integers(0, 999)
)
header_lines = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b"Location: http://127.0.0.1:1/elsewhere",
                b"Retry-After: 0",
                b"Retry-After: Wed, 21 Oct 2015 07:28:00 GMT",
                b"Transfer-Encoding: chunked",
                b"Content-Type: application/json",
            ]
        ),
        st.builds(lambda n: b"Content-Length: %d" % n, st.integers(-5, 3_000_000)),
        st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    ),
    max_size=6,
)
bodies = st.one_of(st.binary(max_size=300), st.integers(0, 2_000_000).map(lambda n: b"x" * n))


@given(
    status=statuses,
    headers=header_lines,
    body=bodies,
    garbage=st.one_of(st.none(), st.binary(min_size=1, max_size=200)),
)
@FUZZ
def test_any_reply_is_a_response_or_an_http_error(peer, status, headers, body, garbage):
    peer.reply = (
        garbage
        if garbage is not None
        else (
            b"HTTP/1.1 %d X\r\n" % status + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body
        )
    )
    client = http.Client(
        timeout_s=2, retry=Retry(max_attempts=2, sleep=lambda _: None), max_reply_bytes=64 * 1024
    )
    started = time.perf_counter()
    with bounded():
        try:
            reply: http.Response | None = client.request("POST", peer.url, body=b"{}")
        except http.HttpError:
            reply = None
        if reply is not None:
            assert 200 <= reply.status < 300
            assert len(reply.body) <= 64 * 1024
    STATS.record("http-peer", time.perf_counter() - started)
