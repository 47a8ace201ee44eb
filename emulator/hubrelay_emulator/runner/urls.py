"""Function URLs (AWS::Lambda::Url) served on 127.0.0.1, as Lambda serves them.

Each HTTP request becomes the documented request event (payload format 2.0), the
function's return value the documented response ("Invoking Lambda function URLs",
https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html):

- headers lowercased, a repeated header's values joined with commas; the query string as
  `rawQueryString` and `queryStringParameters` (repeats joined with commas);
- the body as text for textual content types, else base64 with `isBase64Encoded` true;
- a returned object with `statusCode` is the response (`headers`, `body`,
  `isBase64Encoded`); any other JSON value is a 200 with that JSON as the body; a function
  error is a 502.

Only AuthType NONE is served (AWS_IAM would need SigV4 signing here). The function's
resource-based policy is checked on every request, as Lambda does: since October 2025 a
public function URL needs both `lambda:InvokeFunctionUrl` (FunctionUrlAuthType NONE) and
`lambda:InvokeFunction` for Principal "*" ("Control access to Lambda function URLs",
https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html); without them, 403.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from hubrelay_emulator.localhttp import start_server, stop_server
from hubrelay_emulator.runner.model import LambdaFunction, StackError

if TYPE_CHECKING:
    from hubrelay_emulator.runner.emulator import StackEmulator

MAX_REQUEST_BYTES = 6 * 1024 * 1024  # the synchronous invocation payload quota
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


class FunctionUrls:
    """The stack's function URLs: one local server each, stopped with the stack."""

    def __init__(self, stack: StackEmulator) -> None:
        self.stack = stack
        self.servers: list[ThreadingHTTPServer] = []
        # One invocation at a time: the host swaps the process's modules and environment
        # per function, as separate Lambda sandboxes would have their own.
        self.lock = threading.Lock()
        self.requests = 0

    def serve(self, function: LambdaFunction, auth_type: str) -> str:
        if auth_type != "NONE":
            raise StackError(
                f"function URL of {function.logical_id}: AuthType {auth_type} "
                "is not emulated (only NONE)"
            )
        urls = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                urls.answer(self, function)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        server = start_server(Handler)
        self.servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    def stop(self) -> None:
        for server in self.servers:
            stop_server(server)
        self.servers.clear()

    def answer(self, request: BaseHTTPRequestHandler, function: LambdaFunction) -> None:
        self.requests += 1
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            _send(
                request,
                413,
                {"Content-Type": "application/json"},
                b'{"Message":"Request must be smaller than 6291456 bytes"}',
            )
            return
        body = request.rfile.read(length) if length else b""
        if not self._public(function):
            _send(request, 403, {"Content-Type": "application/json"}, b'{"Message":"Forbidden"}')
            return
        event = request_event(request, body, function, self.stack.region)
        with self.lock:
            try:
                result = self.stack.host.invoke(function, event)
            except Exception:
                _send(
                    request,
                    502,
                    {"Content-Type": "application/json"},
                    b'{"Message":"Internal Server Error"}',
                )
                return
        _send(request, *response_of(result))

    def _public(self, function: LambdaFunction) -> bool:
        def granted(action: str, **extra: Any) -> bool:
            return any(
                p.get("Action") == action
                and p.get("Principal") == "*"
                and p.get("FunctionName") in (function.name, function.arn)
                and all(str(p.get(k)).lower() == str(v).lower() for k, v in extra.items())
                for p in self.stack.permissions
            )

        return granted("lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE") and granted(
            "lambda:InvokeFunction", InvokedViaFunctionUrl=True
        )


def request_event(
    request: BaseHTTPRequestHandler, body: bytes, function: LambdaFunction, region: str
) -> dict[str, Any]:
    """The request as the function URL's event (payload format 2.0)."""
    url = urlsplit(request.path)
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    textual = headers.get("content-type", "").lower().startswith(_TEXT_TYPES)
    url_id = function.name.lower()[-32:]
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path or "/",
        "rawQueryString": url.query,
        "headers": headers,
        "requestContext": {
            # With AuthType NONE there is no caller identity.
            "accountId": "anonymous",
            "apiId": url_id,
            "domainName": f"{url_id}.lambda-url.{region}.on.aws",
            "domainPrefix": url_id,
            "http": {
                "method": request.command,
                "path": url.path or "/",
                "protocol": request.request_version,
                "sourceIp": request.client_address[0],
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": bool(body) and not textual,
    }
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = (
            body.decode("utf-8", "replace") if textual else base64.b64encode(body).decode()
        )
    return event


def response_of(result: Any) -> tuple[int, dict[str, str], bytes]:
    """The HTTP response for a function's return value."""
    if isinstance(result, Mapping) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        headers.setdefault("Content-Type", "application/json")
        return int(result["statusCode"]), headers, data
    return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()


def _send(
    request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], data: bytes
) -> None:
    request.send_response(status)
    for name, value in headers.items():
        request.send_header(name, value)
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)
