"""The redrive snippet of docs/operations.md, run as written against moto's SQS."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hubrelay import message
from hubrelay.quarantine import Quarantined, dlq_entry

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def documented_redrive() -> Callable[..., int]:
    text = OPERATIONS.read_text(encoding="utf-8")
    start = text.index("redrive snippet")
    code = re.search(r"```python\n(.*?)```", text[start:], re.DOTALL)
    assert code, "no python block after the redrive snippet marker"
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), str(OPERATIONS), "exec"), namespace)  # noqa: S102
    redrive: Callable[..., int] = namespace["redrive"]
    return redrive


@pytest.fixture
def queues() -> Iterator[tuple[Any, str, str]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        queue = sqs.create_queue(QueueName="findings")["QueueUrl"]
        # Given what the importer writes (one per code) and one message SQS moved itself
        for code in ("InvalidAccess", "InvalidFinding"):
            body = message.encode([{"Id": f"f-{code}"}])
            entry = dlq_entry(Quarantined(("m-1",), f"f-{code}", code, "why", body))
            sqs.send_message(
                QueueUrl=dlq,
                MessageBody=entry["MessageBody"],
                MessageAttributes=entry["MessageAttributes"],
            )
        sqs.send_message(QueueUrl=dlq, MessageBody=message.encode([{"Id": "f-moved"}]))
        yield sqs, dlq, queue


def ids_in(sqs: Any, url: str) -> set[str]:
    found: set[str] = set()
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for item in batch:
            found |= {f["Id"] for f in json.loads(item["Body"])["findings"]}
            sqs.delete_message(QueueUrl=url, ReceiptHandle=item["ReceiptHandle"])
    return found


def test_redrive_of_one_error_code_moves_only_those_messages(
    queues: tuple[Any, str, str],
) -> None:
    sqs, dlq, queue = queues
    moved = documented_redrive()(dlq, queue, codes={"InvalidAccess"}, region="us-east-1")
    assert moved == 1
    assert ids_in(sqs, queue) == {"f-InvalidAccess"}


def test_redrive_of_everything_moves_bodies_unchanged(queues: tuple[Any, str, str]) -> None:
    sqs, dlq, queue = queues
    assert documented_redrive()(dlq, queue, region="us-east-1") == 3
    assert ids_in(sqs, queue) == {"f-InvalidAccess", "f-InvalidFinding", "f-moved"}
    attributes = sqs.get_queue_attributes(
        QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_messages_sqs_moved_are_selected_by_none(queues: tuple[Any, str, str]) -> None:
    sqs, dlq, queue = queues
    assert documented_redrive()(dlq, queue, codes={None}, region="us-east-1") == 1
    assert ids_in(sqs, queue) == {"f-moved"}
