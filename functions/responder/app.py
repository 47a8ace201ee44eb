"""Responder: Security Hub custom actions (EventBridge) and the automatic route (SQS)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from hubrelay import loading, responder
from hubrelay.observability import lambda_handler, record_route
from hubrelay.route_types import Decision
from hubrelay.routing import RouteConfig
from hubrelay.settings import Settings

settings = Settings.from_env()
services = responder.connect(settings)
config = RouteConfig.from_settings(settings)
# Each queued event is routed on its own: one that fails (a write-back Security Hub did not
# take) is retried alone, the others of the batch are done.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def route(event: Any) -> None:
    record_route(responder.respond(event, settings, config, services))


def _route_record(record: SQSRecord) -> None:
    # The automatic route's queue holds EventBridge events as they were matched, read
    # under the loading policy like any outside input.
    try:
        event = loading.load_json(record.body, what=f"queued event {record.message_id}")
    except loading.LoadError as error:
        # Retrying reads the same body: rejected with the reason (a log line and a
        # metric), and the record is done.
        record_route(responder.RouteOutcome(Decision(accepted=False, reason=str(error))))
        return
    route(event)


@lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    services.ledger.register_lambda_context(context)
    if "Records" in event:
        return dict(
            process_partial_response(
                event=event, record_handler=_route_record, processor=processor, context=context
            )
        )
    route(event)
    return {}
