"""The outbound HTTP client against hostile and broken peers on 127.0.0.1.

Webhooks, the vendor API and the vendor back-sync share `hubrelay.http.Client`; each case
here is a real server answering on loopback.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hubrelay import http
from hubrelay.retry import Retry
from hubrelay_emulator.localhttp import start_server, stop_server

TOKEN = "Bearer never-leaves-its-origin"


class Recorder(BaseHTTPRequestHandler):
    """Answers with whatever the test put in `server.reply`; records every request."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        status, headers, payload = self.server.reply  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _serve

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[..., Any]]:
    servers: list[ThreadingHTTPServer] = []

    def start(status: int = 200, headers: dict[str, str] | None = None, body: bytes = b"{}") -> Any:
        server = start_server(Recorder)
        server.seen = []  # type: ignore[attr-defined]
        server.reply = (status, headers or {}, body)  # type: ignore[attr-defined]
        server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
        servers.append(server)
        return server

    yield start
    for server in servers:
        stop_server(server)


def client(attempts: int = 1, **kwargs: Any) -> http.Client:
    return http.Client(
        timeout_s=5, retry=Retry(max_attempts=attempts, sleep=lambda _: None), **kwargs
    )


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_is_refused_and_the_token_never_reaches_it(serve, status):
    # Given an API that redirects to a server on another port (another origin)
    elsewhere = serve()
    api = serve(status, {"Location": f"{elsewhere.url}/steal"})
    # When a request with a bearer token is made
    with pytest.raises(http.HttpError) as raised:
        client().request("GET", f"{api.url}/findings", headers={"Authorization": TOKEN})
    # Then it fails with the redirect named, and the other origin heard nothing
    assert raised.value.status == status
    assert "redirects are not followed" in str(raised.value)
    assert not raised.value.transient
    assert elsewhere.seen == []


def test_a_redirected_webhook_post_is_not_counted_as_delivered(serve):
    # Given a receiver that answers a POST with 302 to a page that would answer 200 to a GET
    page = serve(200)
    receiver = serve(302, {"Location": f"{page.url}/ok"})
    with pytest.raises(http.HttpError):
        client().request("POST", receiver.url, body=b'{"finding": 1}')
    # Then nothing followed the redirect as a bodiless GET
    assert page.seen == []
    assert [(method, body) for method, _, _, body in receiver.seen] == [("POST", b'{"finding": 1}')]


def test_a_reply_body_over_the_limit_is_refused_without_reading_it_all(serve):
    big = serve(200, body=b"x" * 200_000)
    with pytest.raises(http.HttpError) as raised:
        client(max_reply_bytes=64 * 1024).request("GET", big.url)
    assert "over 65536 bytes" in str(raised.value)
    # Within the limit the body is returned whole.
    assert len(client(max_reply_bytes=256 * 1024).request("GET", big.url).body) == 200_000


def _raw_server(reply: bytes) -> Iterator[str]:
    """A TCP server that answers every connection with `reply` bytes, then closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(5)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(reply)

    threading.Thread(target=run, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    stop.set()
    listener.close()


@pytest.mark.parametrize(
    ("name", "reply"),
    [
        ("bad status line", b"NOT-HTTP garbage\r\n\r\n"),
        ("truncated body", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b"),
        ("over-long header", b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n"),
    ],
)
def test_a_malformed_reply_is_a_failed_attempt_not_a_crash(name, reply):
    for url in _raw_server(reply):
        with pytest.raises(http.HttpError) as raised:
            client(attempts=2).request("GET", url)
        assert raised.value.status is None
        assert raised.value.transient, name
        assert raised.value.attempts == 2
        assert "gave up after 2 attempts" in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://alice:hunter2-password@hooks.example.com/path",
        "https://hunter2-password@hooks.example.com/",
        "https://alice:hunter2-password@hooks.example.com:notaport/",
    ],
)
def test_a_url_with_credentials_is_refused_without_repeating_them(url):
    with pytest.raises(ValueError, match="refusing") as raised:
        client().request("POST", url, body=b"{}")
    assert "hunter2" not in str(raised.value)
    assert "alice" not in str(raised.value)


def test_an_error_reply_whose_body_cannot_be_read_is_still_just_that_error():
    # Found by tests/fuzz/test_http_peers.py: a 301 with a broken chunked body.
    for url in _raw_server(b"HTTP/1.1 301 Moved\r\nTransfer-Encoding: chunked\r\n\r\na"):
        with pytest.raises(http.HttpError) as raised:
            client(attempts=2).request("POST", url, body=b"{}")
        assert raised.value.status == 301
        assert "redirects are not followed" in str(raised.value)
