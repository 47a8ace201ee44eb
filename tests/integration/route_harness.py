"""Shared set-up for the route-out integration tests: moto + the Security Hub contract +
OpsCenter, a real signed-webhook receiver and a vendor API on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3

ACCOUNT = "111111111111"
REGION = "us-east-1"
SIGNING_SECRET = "test-signing-secret"  # a test value, not a credential
VENDOR_TOKEN = "test-vendor-token"
REPLAY_WINDOW_S = 300


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server that checks what it receives as a real receiver would.

    Webhook requests are verified with the documented scheme (HMAC-SHA256 of
    timestamp + "." + raw body, timestamp within the replay window), computed here
    independently of hubrelay's code. `statuses` are answered first, then 200;
    `fail_if(body)` makes a request fail with 500 for good.
    """

    statuses: list[int] = field(default_factory=list)
    fail_if: Callable[[bytes], bool] = lambda _: False
    token: str | None = None  # expected bearer token (vendor API mode)
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.verified]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k: v for k, v in self.headers.items()}
                verified = receiver._verify(headers, body)
                receiver.received.append(Received(self.path, headers, body, verified))
                if not verified:
                    status = 401
                elif receiver.fail_if(body):
                    status = 500
                elif receiver.statuses:
                    status = receiver.statuses.pop(0)
                else:
                    status = 200
                reply = json.dumps({"reference": f"T-{len(receiver.received)}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def _verify(self, headers: dict[str, str], body: bytes) -> bool:
        if self.token is not None:
            return headers.get("Authorization") == f"Bearer {self.token}"
        timestamp = headers.get("X-Hubrelay-Timestamp", "")
        signature = headers.get("X-Hubrelay-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > REPLAY_WINDOW_S:
            return False
        mac = hmac.new(SIGNING_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        return hmac.compare_digest(signature, "v1=" + mac.hexdigest())


def action_targets(securityhub: Any) -> dict[str, str]:
    """Create this stack's custom actions in the contract; destination -> ARN."""
    arns = {}
    for destination, suffix in (
        ("webhook", "Hook"),
        ("sns", "Sns"),
        ("opscenter", "Ops"),
        ("vendor", "Vndr"),
    ):
        reply = securityhub.create_action_target(
            Name=f"hubrelay {destination}"[:20], Description="test", Id=f"hubrelay{suffix}"
        )
        arns[destination] = reply["ActionTargetArn"]
    return arns


def topic_with_queue(region: str = REGION) -> tuple[str, str]:
    """An SNS topic subscribed by an SQS queue, to read what was published."""
    sns, sqs = boto3.client("sns", region_name=region), boto3.client("sqs", region_name=region)
    topic = sns.create_topic(Name="notifications")["TopicArn"]
    queue = sqs.create_queue(QueueName="notifications-reader")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def drain(queue_url: str, region: str = REGION) -> Iterator[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=region)
    while True:
        reply = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        messages = reply.get("Messages", [])
        if not messages:
            return
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            yield message
