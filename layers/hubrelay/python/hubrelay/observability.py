"""The one place where logging, metrics and tracing are set up (Powertools)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from hubrelay.importer import Outcome

# Service name and namespace come from POWERTOOLS_SERVICE_NAME and
# POWERTOOLS_METRICS_NAMESPACE, set per function by template.yaml.
logger = Logger()
metrics = Metrics()
tracer = Tracer()


def record_import(outcome: Outcome) -> None:
    """Metrics and one summary log line for an importer invocation."""
    metrics.add_metric("FindingsReceived", MetricUnit.Count, outcome.received)
    metrics.add_metric("FindingsImported", MetricUnit.Count, outcome.imported)
    metrics.add_metric("FindingsQuarantined", MetricUnit.Count, len(outcome.quarantined))
    metrics.add_metric("FindingsFailed", MetricUnit.Count, len(outcome.unresolved))
    metrics.add_metric("ImportCalls", MetricUnit.Count, outcome.calls)
    metrics.add_metric("ImportThrottles", MetricUnit.Count, outcome.throttles)
    logger.info(
        "import finished",
        received=outcome.received,
        imported=outcome.imported,
        quarantined=outcome.reasons(),
        unresolved=len(outcome.unresolved),
        failed_messages=len(outcome.failed_messages),
        calls=outcome.calls,
        lower_bound=outcome.lower_bound,
        throttles=outcome.throttles,
        retries=outcome.retries,
    )
