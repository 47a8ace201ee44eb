"""Shared set-up for collector tests: moto resources and settings, one run, a vendor API."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from hubrelay import asff, aws, message
from hubrelay_emulator.vendorapi import TOKEN, VendorApi, serve  # noqa: F401 - shared with the tests
from tests.support import LambdaContext, load_handler


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


def shift_clock(monkeypatch: pytest.MonkeyPatch, seconds: float, module: Any = asff) -> None:
    """Move hubrelay's clock (asff.now_utc: the collector's Context.now and the importer's
    backoff) `seconds` ahead of the wall clock, in `module` (an hubrelay.asff)."""

    class Shifted(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.now(tz) + timedelta(seconds=seconds)

    monkeypatch.setattr(module, "datetime", Shifted)
