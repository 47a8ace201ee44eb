"""Importer: SQS batch of queue messages -> BatchImportFindings, with partial batch failures.

Returns the `batchItemFailures` response that an event source mapping with
ReportBatchItemFailures reads ("Handling errors for an SQS event source in Lambda",
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html): only the
messages with a finding neither imported nor quarantined are delivered again, and SQS
counts their receives towards the dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from hubrelay import importer
from hubrelay.observability import lambda_handler, record_import
from hubrelay.settings import Settings

settings = Settings.from_env()
services = importer.connect(settings)


@lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    messages = event.get("Records", [])
    # The client made before the batch's findings are held: a process's first one reads
    # botocore's endpoints data and Security Hub's model, 6.4 MB at its peak, which came
    # on top of them (at the payload limit 1.59x the imports, 1.49x so: bench/memory.py).
    # A warm start has it already.
    services.securityhub(settings.region)
    records = [
        (r["messageId"], r["body"], int(r.get("attributes", {}).get("ApproximateReceiveCount", 1)))
        for r in messages
    ]
    outcome = importer.import_records(
        records, settings, services, context.get_remaining_time_in_millis
    )
    record_import(outcome)
    return {
        "batchItemFailures": [
            {"itemIdentifier": r["messageId"]}
            for r in messages
            if r["messageId"] in outcome.failed_messages
        ]
    }
