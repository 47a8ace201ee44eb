"""Shared set-up for collector tests: moto resources and settings, one run, a vendor API."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from hubrelay import aws, message
from hubrelay_emulator.localhttp import start_server, stop_server
from tests.support import LambdaContext, load_handler

TOKEN = "s3cr3t-token-never-logged"


def create_stack_resources(region: str = "us-east-1") -> dict[str, str]:
    """The collector's queue, tracking table (as template.yaml defines it) and bucket."""
    sqs = boto3.client("sqs", region_name=region)
    queue_url = sqs.create_queue(QueueName="findings")["QueueUrl"]
    dynamodb = boto3.client("dynamodb", region_name=region)
    dynamodb.create_table(
        TableName="tracking",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "due", "AttributeType": "S"},
            {"AttributeName": "ls", "AttributeType": "N"},
            {"AttributeName": "ur", "AttributeType": "S"},
            {"AttributeName": "nr", "AttributeType": "N"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "renewal",
                "KeySchema": [
                    {"AttributeName": "due", "KeyType": "HASH"},
                    {"AttributeName": "ls", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                "IndexName": "retry",
                "KeySchema": [
                    {"AttributeName": "ur", "KeyType": "HASH"},
                    {"AttributeName": "nr", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
    )
    boto3.client("s3", region_name=region).create_bucket(Bucket="reports")
    secret = boto3.client("secretsmanager", region_name=region).create_secret(
        Name="vendor-token", SecretString=TOKEN
    )
    return {"queue_url": queue_url, "secret_arn": secret["ARN"]}


def drain(queue_url: str) -> list[dict[str, Any]]:
    """Every finding on the queue (messages are deleted), in order of receipt."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    findings: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not messages:
            return findings
        for item in messages:
            findings.extend(message.decode(item["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=item["ReceiptHandle"])


def run() -> dict[str, Any]:
    """One run of functions/collector/app.py (imported fresh: it reads settings at import)."""
    return run_with(LambdaContext("collector"))


def run_with(context: LambdaContext) -> dict[str, Any]:
    result: dict[str, Any] = load_handler("collector").handler({}, context)
    return result


@contextlib.contextmanager
def collector_stack(monkeypatch: pytest.MonkeyPatch, **settings: str) -> Iterator[dict[str, str]]:
    """moto holding the collector's resources, and its settings pointing at them: the
    queue, table and bucket, then HUBRELAY_<NAME> for each keyword."""
    with mock_aws():
        aws.reset()
        parameters.clear_caches()
        resources = create_stack_resources()
        environment = {
            "FINDINGS_QUEUE_URL": resources["queue_url"],
            "TRACKING_TABLE": "tracking",
            "REPORTS_BUCKET": "reports",
            **settings,
        }
        for name, value in environment.items():
            monkeypatch.setenv(f"HUBRELAY_{name}", value)
        yield resources
        aws.reset()
        parameters.clear_caches()


@dataclass
class VendorApi:
    """A vendor REST API on 127.0.0.1: pages, a since filter, bearer auth, scripted faults."""

    records: list[dict[str, Any]]
    page_size: int = 2
    faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    unauthorized: int = 0
    url: str = ""

    def page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        since = query.get("updated_since", [""])[0]
        start = int(query.get("cursor", ["0"])[0])
        size = int(query.get("limit", [str(self.page_size)])[0])
        matching = [r for r in self.records if r.get("updated_at", "") >= since]
        chunk = matching[start : start + size]
        more = start + size < len(matching)
        link = f"/v1/findings?cursor={start + size}&limit={size}&updated_since={since}"
        return {"findings": chunk, "next": link if more else None}


def serve(api: VendorApi) -> Iterator[VendorApi]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            api.requests.append(self.path)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                api.unauthorized += 1
                self._reply(401, {"error": "unauthorized"})
                return
            if api.faults:
                status, headers = api.faults.pop(0)
                self._reply(status, {"error": "try later"}, headers)
                return
            self._reply(200, api.page(parse_qs(urlsplit(self.path).query)))

        def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = start_server(Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}/v1/findings"
    try:
        yield api
    finally:
        stop_server(server)
