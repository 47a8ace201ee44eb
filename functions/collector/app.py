"""Collector: read the configured source and enqueue new or changed findings.

The source (HUBRELAY_SOURCE = vendor_api | scanner_reports | health), the queue, the
tracking table and the reports bucket come from the environment (hubrelay.settings).
Its schedule's "{}" runs it from the cursor; an EventBridge event (a report's Object
Created, an AWS Health event: hubrelay.triggers) runs it for what the event names only.
The run stops before the deadline; the next scheduled run continues from the cursor.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from hubrelay import collector, triggers
from hubrelay.observability import lambda_handler, record_collect
from hubrelay.settings import Settings

settings = Settings.from_env()
services = collector.connect(settings)
# A vendor mapping that cannot work fails the cold start, naming the field (docs/vendor-mapping.md).
collector.check_vendor_mapping(settings, services)


@lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    account_id = context.invoked_function_arn.split(":")[4]
    try:
        trigger = triggers.parse(event, settings)
    except triggers.EventError as exc:  # one line naming the event, no traceback
        outcome = collector.refuse(settings, services, event, str(exc))
    else:
        outcome = collector.collect(
            settings, services, account_id, context.get_remaining_time_in_millis, trigger
        )
    record_collect(settings.source, outcome)
    return outcome.summary()
