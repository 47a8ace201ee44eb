"""Shared set-up for the route-out integration tests: moto + the Security Hub contract +
OpsCenter, a real signed-webhook receiver and a vendor API on 127.0.0.1, and the stack the
responder runs against (built directly in moto), with its Lambda handler."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from hubrelay import aws
from hubrelay.http import Client
from hubrelay.responder import RouteOutcome, connect, respond
from hubrelay.retry import Retry
from hubrelay.routing import NOT_OWED, RouteConfig
from hubrelay.settings import Settings
from hubrelay_emulator import opscenter, securityhub, webhook_verifier
from hubrelay_emulator.localhttp import start_server, stop_server
from tests.support import LambdaContext, load_fixture, load_handler

ACCOUNT = "111111111111"
REGION = "us-east-1"
SIGNING_SECRET = "test-signing-secret"  # a test value, not a credential
VENDOR_TOKEN = "test-vendor-token"
REPLAY_WINDOW_S = 300
SNS_NOT_OWED = f"sns: {NOT_OWED}"
AUTO_ROUTE_QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:auto-route"


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
                verified = receiver._verify(self.headers, body)
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

        self.server = start_server(Handler)
        return self

    def stop(self) -> None:
        if self.server is not None:
            stop_server(self.server)

    def _verify(self, headers: Any, body: bytes) -> bool:
        if self.token is not None:
            return bool(headers.get("Authorization") == f"Bearer {self.token}")
        return bool(webhook_verifier.verify(headers, body, {"default": SIGNING_SECRET}))


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


def throttle(client: Any, operation: str, times: int) -> list[str]:
    """Make `client`'s next `times` calls of `operation` (e.g. "GetFindings") answer 429
    TooManyRequestsException, as Security Hub does over an operation's quota (GetFindings:
    3 requests per second, burst 6, in the service model's documentation). Returns the log
    of the calls seen: "refused" or "served"."""
    from botocore.awsrequest import AWSResponse

    seen: list[str] = []

    def refuse(**_: Any) -> Any:
        if seen.count("refused") >= times:
            seen.append("served")
            return None
        seen.append("refused")
        error = {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}
        reply = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 429}}
        return AWSResponse("https://securityhub", 429, {}, None), reply

    client.meta.events.register(f"before-call.securityhub.{operation}", refuse)
    return seen


# --- the responder's stack and handler ---------------------------------------------------


class Stack:
    """What template.yaml would deploy, built directly in moto for one test."""

    def __init__(self, contract: securityhub.Contract, ops: opscenter.OpsCenter) -> None:
        self.contract, self.ops = contract, ops
        self.webhook = Receiver().start()
        self.vendor = Receiver(token=VENDOR_TOKEN).start()
        self.securityhub = boto3.client("securityhub", region_name=REGION)
        self.actions = action_targets(self.securityhub)
        self.topic, self.topic_reader = topic_with_queue()
        sqs = boto3.client("sqs", region_name=REGION)
        self.dlq = sqs.create_queue(QueueName="responder-dlq")["QueueUrl"]
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="idempotency",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        secrets = boto3.client("secretsmanager", region_name=REGION)
        secrets.create_secret(
            Name="hubrelay/webhook",
            SecretString=json.dumps({"url": self.webhook.url, "signing_secret": SIGNING_SECRET}),
        )
        secrets.create_secret(Name="hubrelay/vendor", SecretString=VENDOR_TOKEN)
        self.settings = Settings(
            region=REGION,
            product_arn=f"arn:aws:securityhub:{REGION}:222222222222:product/generico/secure-pro",
            webhook_action_arn=self.actions["webhook"],
            sns_action_arn=self.actions["sns"],
            opscenter_action_arn=self.actions["opscenter"],
            vendor_action_arn=self.actions["vendor"],
            webhook_secret_arn="hubrelay/webhook",
            sns_topic_arn=self.topic,
            opscenter_enabled=True,
            vendor_back_sync=True,
            vendor_secret_arn="hubrelay/vendor",
            vendor_api_url=self.vendor.url.removesuffix("/hook"),
            auto_route=True,
            auto_route_destinations="webhook,sns",
            idempotency_table="idempotency",
            responder_dlq_url=self.dlq,
        )
        self.configure()

    def configure(self, **changes: Any) -> None:
        self.settings = dataclasses.replace(self.settings, **changes)
        self.config = RouteConfig.from_settings(self.settings)
        self.services = connect(self.settings)
        # Retries without waiting: the backoff itself is unit-tested.
        self.services.outlets.http = Client(
            retry=Retry(max_attempts=3, base_s=0, cap_s=0, sleep=lambda _: None)
        )

    def seed(self, *families: str) -> list[dict[str, Any]]:
        findings = [
            load_fixture(f"events/custom-action-{name}.json")["detail"]["findings"][0]
            for name in families
        ]
        self.contract.seed(ACCOUNT, REGION, findings)
        return findings

    def click(self, destination: str, *families: str) -> list[dict[str, Any]]:
        """The events Security Hub emits when a user runs our custom action on findings:
        one per finding."""
        findings = self.seed(*families)
        keys = [(f["ProductArn"], f["Id"]) for f in findings]
        return self.contract.custom_action(ACCOUNT, REGION, self.actions[destination], keys)

    def click_one(self, destination: str, family: str) -> dict[str, Any]:
        (event,) = self.click(destination, family)
        return event

    def route(self, event: Any) -> RouteOutcome:
        return respond(event, self.settings, self.config, self.services)

    def route_all(self, events: list[dict[str, Any]]) -> list[RouteOutcome]:
        return [self.route(event) for event in events]

    def stored(self, finding_id: str) -> dict[str, Any]:
        (found,) = [f for f in self.contract.findings(ACCOUNT, REGION) if f["Id"] == finding_id]
        return found

    def dead_letters(self) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in drain(self.dlq)]

    def published(self) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in drain(self.topic_reader)]


def pass_minutes_in_the_ledger(minutes: float) -> None:
    """`minutes` go by for the idempotency ledger: its items that would have expired by then
    go (Powertools keeps an item's expiry in `expiration`, epoch seconds, and treats one
    past it as absent; DynamoDB's TTL then deletes it)."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    then = time.time() + minutes * 60
    for item in dynamodb.scan(TableName="idempotency")["Items"]:
        if item["id"]["S"].startswith("hubrelay-route") and float(item["expiration"]["N"]) < then:
            dynamodb.delete_item(TableName="idempotency", Key={"id": item["id"]})


def forget_the_ledger() -> None:
    """The idempotency ledger's items expire (IdempotencyWindowMinutes, 60 by default; the
    automatic route's after its queue's receives, 183 minutes) while
    the dead-letter queue keeps a message 14 days: the route's ledger items go, the V2
    records stay."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for item in dynamodb.scan(TableName="idempotency")["Items"]:
        if item["id"]["S"].startswith("hubrelay-route"):
            dynamodb.delete_item(TableName="idempotency", Key={"id": item["id"]})


@contextlib.contextmanager
def responder_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A Stack in moto, with the Security Hub contract and OpsCenter installed for it."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    contract = securityhub.install(securityhub.Contract(rate_per_second=None))
    ops = opscenter.install(opscenter.OpsCenter())
    aws.reset()
    parameters.clear_caches()
    parameters.base.DEFAULT_PROVIDERS.clear()
    with mock_aws():
        securityhub.enable_hub(ACCOUNT, REGION)
        built = Stack(contract, ops)
        try:
            yield built
        finally:
            built.webhook.stop()
            built.vendor.stop()
    aws.reset()
    parameters.base.DEFAULT_PROVIDERS.clear()
    securityhub.uninstall()
    opscenter.uninstall()


def responder_context() -> LambdaContext:
    return LambdaContext("hubrelay-responder", memory_limit_in_mb=256, remaining_ms=290_000)


def load_responder(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """functions/responder/app.py, configured (its environment) as the stack's responder."""
    for name, value in dataclasses.asdict(stack.settings).items():
        monkeypatch.setenv(
            f"HUBRELAY_{name.upper()}",
            str(value).lower() if isinstance(value, bool) else str(value),
        )
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "hubrelay-responder")
    module = load_handler("responder")
    module.services.outlets.http = Client(retry=Retry(max_attempts=1, sleep=lambda _: None))
    return module
