"""Importer: SQS batch of queue messages -> BatchImportFindings, with partial batch failures."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from hubrelay import aws
from hubrelay.importer import Importer
from hubrelay.observability import logger, metrics, record_import, tracer
from hubrelay.settings import Settings

settings = Settings.from_env()
# A batch whose every message failed is reported as such, not raised: SQS then retries
# each message on its own and counts its receives towards the dead-letter queue.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class RedeliverMessage(Exception):
    """A message with a finding that is neither imported nor quarantined yet."""


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    logger.set_correlation_id(context.aws_request_id)
    records = [
        (r["messageId"], r["body"], int(r.get("attributes", {}).get("ApproximateReceiveCount", 1)))
        for r in event.get("Records", [])
    ]
    outcome = Importer(
        client_for=aws.securityhub,
        sqs=aws.client("sqs"),
        settings=settings,
        remaining_ms=context.get_remaining_time_in_millis,
        log=logger.info,
    ).run(records)
    record_import(outcome)

    def settle(record: SQSRecord) -> None:
        if record.message_id in outcome.failed_messages:
            raise RedeliverMessage(record.message_id)

    return process_partial_response(
        event=event, record_handler=settle, processor=processor, context=context
    )
