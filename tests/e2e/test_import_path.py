"""Source -> queue -> importer -> Security Hub, through the real template on the stack emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubrelay import message
from hubrelay_emulator import samples
from hubrelay_emulator.demo import PARTNER_PRODUCT
from hubrelay_emulator.runner import StackEmulator, StackError

ROOT = Path(__file__).resolve().parents[2]


def send(stack: StackEmulator, bodies: list[str]) -> None:
    sqs = stack.client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=stack.outputs["FindingsQueueUrl"], MessageBody=body)


def test_findings_failing_until_the_last_receive_are_quarantined_with_their_reason(make_stack):
    # Given a stack whose queue redrives after 2 receives, and a Security Hub that keeps failing
    stack = make_stack(MaxReceiveCount=2)
    stack.contract.inject("internal", count=10_000)
    send(stack, [message.encode(samples.mixed(3, product=PARTNER_PRODUCT))])
    # When the event source mapping keeps polling as the visibility timeouts pass
    stack.drain()
    # Then the message was tried exactly twice, and on its last receive each finding was
    # quarantined with the error that kept it out
    assert stack.functions["ImporterFunction"].invocations == 2
    dead = stack.messages("FindingsDeadLetterQueue")
    assert len(dead) == 3
    for kept in dead:
        attributes = kept["MessageAttributes"]
        assert attributes["hubrelay.ErrorCode"]["StringValue"] == "RetriesExhausted"
        assert "InternalException" in attributes["hubrelay.ErrorMessage"]["StringValue"]
    assert stack.queue_depth("FindingsQueue") == 0


def test_redelivered_message_after_a_crash_is_imported_once(make_stack):
    # Given an importer invocation that fails mid-way (Security Hub down for its first calls)
    stack = make_stack()
    findings = samples.mixed(50, product=PARTNER_PRODUCT)
    stack.contract.inject("failed_findings", first=10, error_code="InternalException")
    stack.contract.inject("internal", count=400)
    send(stack, list(message.pack_messages(findings)))
    stack.poll(stack.mappings[0])
    # When Security Hub recovers and SQS delivers the message again
    stack.contract._faults.clear()
    stack.drain()
    # Then each finding is in Security Hub exactly once
    stored = [f for a in samples.SUBSCRIBED for f in stack.contract.findings(a, stack.region)]
    assert sorted(f["Id"] for f in stored) == sorted(f["Id"] for f in findings)


def test_an_importer_batch_stays_within_lambdas_6_mb_payload_and_every_message_arrives(
    make_stack,
):
    # Given more queued messages than one 6 MB invocation payload holds
    # (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html#invocation-eventsourcemapping-batching)
    stack = make_stack()
    findings = samples.mixed(1_500, product=PARTNER_PRODUCT)
    bodies = list(message.pack_messages(findings))
    assert sum(len(b) for b in bodies) > 6 * 1024 * 1024
    events: list[int] = []
    invoke = stack.invoke

    def recording(logical_id, event):
        events.append(len(json.dumps(event)))
        return invoke(logical_id, event)

    stack.invoke = recording
    send(stack, bodies)
    # When the event source mapping drains the queue
    stack.drain()
    # Then no invocation was over 6 MB, it took more than one, and every finding is stored
    assert len(events) > 1
    assert max(events) <= 6 * 1024 * 1024
    stored = [f for a in samples.SUBSCRIBED for f in stack.contract.findings(a, stack.region)]
    assert len(stored) == len(findings)
    assert stack.queue_depth("FindingsDeadLetterQueue") == 0


def test_a_missing_permission_fails_the_test_run(make_stack, tmp_path):
    # Given a template whose importer may not write to the dead-letter queue
    text = (ROOT / "template.yaml").read_text()
    grant = "Action: sqs:SendMessage\n                Resource: !GetAtt FindingsDeadLetterQueue.Arn"
    broken = text.replace(grant, grant.replace("FindingsDeadLetterQueue", "FindingsQueue"))
    assert broken != text
    template = tmp_path / "template.yaml"
    template.write_text(broken)
    stack = make_stack(template)
    # When a malformed message must be quarantined
    send(stack, ["not json"])
    stack.poll(stack.mappings[0])
    # Then the call was refused as AWS would, and the message was kept for redelivery
    denied = stack.checker.denied()
    assert [(c.action, c.resource.split(":")[-1].split("-")[-2]) for c in denied] == [
        ("sqs:SendMessage", "FindingsDeadLetterQueue")
    ]
    assert stack.queue_depth("FindingsQueue") == 1


def test_a_handler_path_typo_is_caught_before_deploying(make_stack, tmp_path):
    text = (ROOT / "template.yaml").read_text()
    template = tmp_path / "template.yaml"
    template.write_text(text.replace("functions/importer.zip", "functions/importr.zip"))
    with pytest.raises(StackError, match="functions/importr"):
        make_stack(template)


def test_outputs_point_at_real_resources(make_stack):
    stack = make_stack()
    attrs = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["FindingsQueueUrl"], AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == stack.resources["FindingsDeadLetterQueue"]["Arn"]
    assert stack.outputs["ResolvedProductArn"] == PARTNER_PRODUCT


def test_a_product_the_role_refuses_does_not_hold_back_another_products_findings(make_stack):
    # Given a message mixing our product's findings with another product's, which the
    # importer's role may not import (a producer's mistake, or a ProductArn switched away
    # from a partner product)
    stack = make_stack()
    ours = samples.mixed(3, product=PARTNER_PRODUCT, accounts=samples.SUBSCRIBED[:1])
    foreign = "arn:aws:securityhub:us-east-1:999999999999:product/other/tool"
    theirs = samples.mixed(2, seed=8, product=foreign, accounts=samples.SUBSCRIBED[:1])
    send(stack, [message.encode(ours + theirs)])
    # When the importer runs
    stack.drain()
    # Then one call per product: ours are imported, theirs quarantined as refused
    stored = stack.contract.findings(samples.SUBSCRIBED[0], stack.region)
    assert sorted(f["Id"] for f in stored) == sorted(f["Id"] for f in ours)
    dead = stack.messages("FindingsDeadLetterQueue")
    codes = {m["MessageAttributes"]["hubrelay.ErrorCode"]["StringValue"] for m in dead}
    assert len(dead) == 2
    assert codes == {"AccessDeniedException"}
