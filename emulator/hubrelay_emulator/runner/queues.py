"""SQS event source mappings, driven as Lambda's poller and SQS would drive them.

A poll receives up to the mapping's batch size, invokes the function, honours
ReportBatchItemFailures, deletes what succeeded and keeps what failed invisible until the
simulated clock passes the queue's visibility timeout; SQS's own redrive then moves a
message to the dead-letter queue after maxReceiveCount receives.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from hubrelay_emulator.lambda_runtime import sqs_record
from hubrelay_emulator.runner.model import QueueMapping, StackError

if TYPE_CHECKING:
    from hubrelay_emulator.runner.emulator import StackEmulator

# The actions AWS documents for an SQS event source mapping; Lambda polls with the
# function's execution role.
POLLER_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
# Lambda invokes the function with a batch when the batch size is reached, the batching
# window ends, or the payload reaches 6 MB, whichever comes first ("Batching behavior",
# https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html#invocation-eventsourcemapping-batching;
# 6 MB is also the synchronous invocation payload quota,
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024


def delete_batch(sqs: Any, url: str, messages: Sequence[dict[str, Any]]) -> None:
    """Delete up to ten received messages in one call."""
    sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ],
    )


class QueuePoller:
    def __init__(self, stack: StackEmulator) -> None:
        self.stack = stack
        self.hidden: list[tuple[float, str, str]] = []  # (visible at, queue url, receipt)

    def advance(self, seconds: float) -> None:
        """Move the simulated clock; messages whose visibility timeout passed reappear."""
        self.stack.clock += seconds
        due = [h for h in self.hidden if h[0] <= self.stack.clock]
        self.hidden = [h for h in self.hidden if h[0] > self.stack.clock]
        sqs = self.stack.client("sqs")
        for _, url, receipt in due:
            with contextlib.suppress(ClientError):
                sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0
                )

    def poll(self, mapping: QueueMapping) -> int:
        """One poll: receive a batch, invoke, settle. Returns the messages received."""
        role = self.stack.functions[mapping.function].role
        for action in POLLER_ACTIONS:
            (call,) = self.stack.checker.check(role, action, [mapping.queue_arn])
            if not call.allowed:
                raise StackError(
                    f"{mapping.function}: its role lacks {action} on {mapping.queue_arn}"
                )
        messages = self._receive(mapping)
        if not messages:
            return 0
        event = {"Records": [self._record(m, mapping) for m in messages]}
        failed: set[str] = set()
        try:
            response = self.stack.invoke(mapping.function, event)
            if mapping.report_failures and isinstance(response, dict):
                failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception:
            failed = {m["MessageId"] for m in messages}
        self._settle(mapping, messages, failed)
        self.stack.deliver_events()
        return len(messages)

    def drain(self, max_polls: int = 10_000, redeliver: bool = True) -> int:
        """Poll every mapping until its queue is empty; failed messages come back after
        their visibility timeout (simulated) until SQS's redrive takes them. Returns polls."""
        polls = 0
        while polls < max_polls:
            progressed = False
            for mapping in self.stack.mappings:
                if mapping.enabled and self.stack.poll(mapping):
                    polls += 1
                    progressed = True
            if not progressed:
                if not (redeliver and self.hidden):
                    break
                self.advance(max(h[0] for h in self.hidden) - self.stack.clock)
        return polls

    def depth(self, url: str) -> int:
        attrs = self.stack.client("sqs").get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    def consume(self, url: str) -> list[dict[str, Any]]:
        sqs, out = self.stack.client("sqs"), []
        while got := sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages"):
            out.extend(got)
            delete_batch(sqs, url, got)
        return out

    def _receive(self, mapping: QueueMapping) -> list[dict[str, Any]]:
        """Up to the batch size, within the payload limit (at least one message); near the
        limit one message at a time, and one that does not fit is made visible again."""
        sqs = self.stack.client("sqs")
        messages: list[dict[str, Any]] = []
        size = largest = 0
        while len(messages) < mapping.batch_size:
            room = MAX_PAYLOAD_BYTES - size
            got = sqs.receive_message(
                QueueUrl=mapping.queue_url,
                MaxNumberOfMessages=min(
                    10 if room > 10 * largest else 1, mapping.batch_size - len(messages)
                ),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            for position, received in enumerate(got):
                own = len(json.dumps(self._record(received, mapping))) + 2
                if messages and size + own > MAX_PAYLOAD_BYTES:
                    for late in got[position:]:
                        with contextlib.suppress(ClientError):
                            sqs.change_message_visibility(
                                QueueUrl=mapping.queue_url,
                                ReceiptHandle=late["ReceiptHandle"],
                                VisibilityTimeout=0,
                            )
                    return messages
                messages.append(received)
                size, largest = size + own, max(largest, own)
            if not got:
                break
        return messages

    def _record(self, message: dict[str, Any], mapping: QueueMapping) -> dict[str, Any]:
        return sqs_record(
            message["Body"],
            message["MessageId"],
            queue_arn=mapping.queue_arn,
            region=self.stack.region,
            receipt_handle=message["ReceiptHandle"],
            attributes=message.get("Attributes", {}),
            message_attributes={
                k: {"stringValue": v.get("StringValue"), "dataType": v["DataType"]}
                for k, v in message.get("MessageAttributes", {}).items()
            },
            md5_of_body=message.get("MD5OfBody", ""),
        )

    def _settle(
        self, mapping: QueueMapping, messages: Sequence[dict[str, Any]], failed: set[str]
    ) -> None:
        """Delete what succeeded; hide what failed until its visibility timeout passes."""
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            delete_batch(self.stack.client("sqs"), mapping.queue_url, done[start : start + 10])
        visible_at = self.stack.clock + mapping.visibility_timeout
        self.hidden += [
            (visible_at, mapping.queue_url, m["ReceiptHandle"])
            for m in messages
            if m["MessageId"] in failed
        ]
