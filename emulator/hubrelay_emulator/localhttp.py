"""HTTP servers on 127.0.0.1 for the doubles of what hubrelay calls out to (webhook
receivers, vendor APIs), served from a daemon thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# shutdown() returns once the serving loop next polls: the default half second would be
# most of a short test's teardown.
POLL_INTERVAL_S = 0.01


def start_server(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A server on a free port of 127.0.0.1, already serving."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL_S}, daemon=True
    ).start()
    return server


def stop_server(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()
