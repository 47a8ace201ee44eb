"""Status sync back: a webhook receiver's callback (function URL) or the vendor poll
(schedule) says a ticket was closed; the finding is resolved (hubrelay.statussync)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from hubrelay import callback, statussync
from hubrelay.observability import lambda_handler, record_syncback
from hubrelay.settings import Settings

settings = Settings.from_env()
services = statussync.connect(settings)


@lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if callback.is_function_url_event(event):
        response, outcome = statussync.on_callback(event, settings, services)
        record_syncback("callback", outcome, status=int(response["statusCode"]))
        return response
    outcome, poll = statussync.on_schedule(settings, services)
    record_syncback("vendor", outcome, refused=poll.refused, pages=poll.pages)
    return {"pages": poll.pages, "refused": len(poll.refused), **outcome.report()}
