"""The one SQS batch sender: SendMessageBatch in calls of at most 10 entries and at most
the queue's maximum message size in all, retrying the entries SQS failed on its side.

SendMessageBatch reports each entry's failure on its own, with SenderFault set when the
entry itself is wrong (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html);
the size limit applies to the sum of the batch's message bodies and attributes
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html).
The collector, the importer's quarantine and the local tools all send through here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay.retry import Retry

MAX_BATCH_ENTRIES = 10
Entry = dict[str, Any]  # a SendMessageBatchRequestEntry without its Id


def entry_size(entry: Entry) -> int:
    """Bytes an entry counts against the limit: its body and its attributes."""
    size = len(str(entry["MessageBody"]).encode())
    for name, value in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        size += len(str(value.get("StringValue", "")).encode())
    return size


def batches(entries: Sequence[Entry], max_bytes: int) -> Iterator[list[Entry]]:
    """SendMessageBatch calls: at most 10 entries and at most max_bytes in all."""
    batch: list[Entry] = []
    size = 0
    for entry in entries:
        cost = entry_size(entry)
        if batch and (len(batch) == MAX_BATCH_ENTRIES or size + cost > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += cost
    if batch:
        yield batch


class SendReport:
    """What a send left undone: entries SQS refused (sender faults), or kept failing."""

    def __init__(self) -> None:
        self.calls = 0
        self.refused: list[tuple[Entry, str]] = []  # (entry, SQS's reason)
        self.failed: list[tuple[Entry, str]] = []

    @property
    def unsent(self) -> list[tuple[Entry, str]]:
        return self.refused + self.failed


def send_entries(
    sqs: Any, queue_url: str, entries: Sequence[Entry], *, max_bytes: int, retry: Retry
) -> SendReport:
    """Send every entry; the report says which were not sent and why."""
    report = SendReport()
    for batch in batches(entries, max_bytes):
        _send_batch(sqs, queue_url, batch, retry, report)
    return report


def _send_batch(
    sqs: Any, queue_url: str, batch: list[Entry], retry: Retry, report: SendReport
) -> None:
    pending = dict(enumerate(batch))
    attempt = 0
    while pending:
        attempt += 1
        report.calls += 1
        request = [{"Id": str(i), **entry} for i, entry in pending.items()]
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=request)
        except (ClientError, BotoCoreError) as error:
            # botocore already retried the call itself (standard mode): give the batch up.
            report.failed += [(entry, str(error)) for entry in pending.values()]
            return
        failures = {int(f["Id"]): f for f in response.get("Failed", [])}
        for i, failure in failures.items():
            if failure.get("SenderFault"):
                report.refused.append((pending.pop(i), str(failure.get("Message") or "")))
        pending = {i: entry for i, entry in pending.items() if i in failures}
        if pending and not retry.pause(attempt):
            report.failed += [(entry, "SQS kept failing it") for entry in pending.values()]
            return
