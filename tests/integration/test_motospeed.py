"""hubrelay_emulator.motospeed: moto's responses, serialized through the remembered member
lookups, are the bytes moto's own serializer gives, for every call of a workload that has
what the stack's services return (DynamoDB items of every attribute type, SQS messages with
attributes, IAM's XML, errors, optional members missing)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.responses import ActionResult

from hubrelay_emulator import motospeed


@pytest.fixture
def both_ways(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every moto result serialized by moto's path and the remembered one, compared."""
    compared: list[str] = []
    original = ActionResult.execute_result

    def checked(self: ActionResult, context: Any) -> Any:
        motospeed.uninstall()
        slow = original(self, context)
        motospeed.install()
        fast = original(self, context)
        fast_again = original(self, context)  # the second time from the remembered plans
        assert fast == slow == fast_again, context.operation_model.name
        compared.append(str(context.operation_model.name))
        return fast

    monkeypatch.setattr(ActionResult, "execute_result", checked)
    try:
        yield compared
    finally:
        motospeed.uninstall()


def _dynamodb_workload() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName="t",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    every_type = {
        "pk": {"S": "f#scope"},
        "s": {"S": ""},
        "n": {"N": "1.5"},
        "b": {"B": b"\x00\xffzlib"},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2"]},
        "bs": {"BS": [b"x", b"y"]},
        "m": {"M": {"inner": {"L": [{"S": "x"}, {"N": "2"}, {"NULL": True}]}}},
        "l": {"L": [{"BOOL": False}, {"M": {}}]},
        "null": {"NULL": True},
        "bool": {"BOOL": True},
    }
    for n in range(5):
        client.put_item(TableName="t", Item={**every_type, "sk": {"S": f"k{n}"}})
    client.put_item(TableName="t", Item={"pk": {"S": "f#scope"}, "sk": {"S": "bare"}})
    client.query(
        TableName="t",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "f#scope"}},
        Limit=3,
        ReturnConsumedCapacity="TOTAL",
    )
    client.get_item(TableName="t", Key={"pk": {"S": "f#scope"}, "sk": {"S": "k1"}})
    client.get_item(TableName="t", Key={"pk": {"S": "f#scope"}, "sk": {"S": "none"}})
    keys = [{"pk": {"S": "f#scope"}, "sk": {"S": f"k{n}"}} for n in range(3)]
    client.batch_get_item(RequestItems={"t": {"Keys": keys}})
    client.scan(TableName="t")
    client.describe_table(TableName="t")
    with pytest.raises(ClientError):
        client.query(
            TableName="t",
            KeyConditionExpression="nope = :pk",
            ExpressionAttributeValues={":pk": {"S": "x"}},
        )


def _sqs_and_iam_workload() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody="{}",
        MessageAttributes={"account": {"DataType": "String", "StringValue": "1"}},
    )
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "x"}])
    sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
    )
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    iam.get_role(RoleName="r")
    iam.list_roles()


def test_remembered_lookups_give_the_bytes_of_motos_own_serializer(
    both_ways: list[str],
) -> None:
    with mock_aws():
        _dynamodb_workload()
        _sqs_and_iam_workload()

    assert {"Query", "GetItem", "BatchGetItem", "Scan", "ReceiveMessage", "GetRole"} <= set(
        both_ways
    )


def test_uninstall_restores_motos_serializer() -> None:
    from moto.core.serialize import ResponseSerializer

    own = ResponseSerializer._serialize_type_structure
    motospeed.install()
    motospeed.install()
    assert ResponseSerializer._serialize_type_structure is not own
    motospeed.uninstall()
    assert ResponseSerializer._serialize_type_structure is own


def test_sessions_share_loaded_models_and_clients_still_work() -> None:
    import botocore.session

    motospeed.install()
    try:
        first, second = botocore.session.Session(), botocore.session.Session()
        model = first.get_component("data_loader").load_service_model("sqs", "service-2")
        again = second.get_component("data_loader").load_service_model("sqs", "service-2")
        assert again is model  # parsed once for the process
        with mock_aws():
            sqs = second.create_client("sqs", region_name="us-east-1")
            url = sqs.create_queue(QueueName="shared")["QueueUrl"]
            assert sqs.get_queue_url(QueueName="shared")["QueueUrl"] == url
    finally:
        motospeed.uninstall()
    fresh = botocore.session.Session().get_component("data_loader")
    assert fresh.load_service_model("sqs", "service-2") is not model


def _fifo_outcomes() -> list[Any]:
    """What SendMessage does on FIFO queues with and without content-based deduplication
    and on a standard queue: the messages kept and the errors raised."""
    outcomes: list[Any] = []
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        for name, content in (("dedup.fifo", "true"), ("plain.fifo", "false")):
            url = sqs.create_queue(
                QueueName=name,
                Attributes={"FifoQueue": "true", "ContentBasedDeduplication": content},
            )["QueueUrl"]
            for _ in range(2):
                try:
                    sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
                    outcomes.append("sent")
                except ClientError as error:
                    outcomes.append(error.response["Error"]["Code"])
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            outcomes.append((attrs["ApproximateNumberOfMessages"], attrs["FifoQueue"]))
        url = sqs.create_queue(QueueName="standard")["QueueUrl"]
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "x"}])
        sqs.send_message(QueueUrl=url, MessageBody="x")
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        outcomes.append(attrs["ApproximateNumberOfMessages"])
    return outcomes


def test_send_message_reads_the_queues_deduplication_setting_as_moto_does() -> None:
    own = _fifo_outcomes()
    motospeed.install()
    try:
        fast = _fifo_outcomes()
    finally:
        motospeed.uninstall()

    assert fast == own
    assert own[:3] == ["sent", "sent", ("1", "true")], own  # the duplicate not kept
    assert own[3:5] == ["InvalidParameterValue"] * 2, own  # no deduplication id
