"""Responder: Security Hub custom actions (EventBridge) and the automatic route (SQS)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from hubrelay import loading, responder
from hubrelay.observability import lambda_handler, record_route
from hubrelay.route_types import Decision
from hubrelay.routing import RouteConfig
from hubrelay.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

settings = Settings.from_env()
services = responder.connect(settings)
config = RouteConfig.from_settings(settings)


@cache
def _processor() -> BatchProcessor:
    """Each queued event is routed on its own: one that fails (a write-back Security Hub did
    not take) is retried alone, the others of the batch are done. Made on the first SQS
    batch: only the automatic route (AutoRoute, off by default) comes through a queue, and
    Powertools' batch utility (with asyncio and the event data classes) is a large part of a
    cold start that custom actions do not need (docs/operations.md, "Cold starts")."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


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
        from aws_lambda_powertools.utilities.batch import process_partial_response

        return dict(
            process_partial_response(
                event=event, record_handler=_route_record, processor=_processor(), context=context
            )
        )
    route(event)
    return {}
