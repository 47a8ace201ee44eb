"""The one place where logging, metrics and tracing are set up (Powertools)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

    from hubrelay.collector import CollectOutcome
    from hubrelay.importer import ImportOutcome
    from hubrelay.responder import RouteOutcome
    from hubrelay.syncback import Outcome as SyncOutcome

# Service name and namespace come from POWERTOOLS_SERVICE_NAME and
# POWERTOOLS_METRICS_NAMESPACE, set per function by template.yaml.


class _CurrentStdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is now, not to the one at import time.

    Lambda never swaps stdout; tests do (pytest's capsys), and a logger bound at import to
    an earlier test's capture would hide every later test's log lines.
    """

    # The command line writes its log to stderr: its stdout is the command's output.
    to_stderr = False

    @property
    def stream(self) -> IO[str]:
        return sys.stderr if self.to_stderr else sys.stdout

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


_handler = _CurrentStdout()
logger = Logger(logger_handler=_handler)


@contextlib.contextmanager
def log_for_the_command_line(level: str) -> Iterator[None]:
    """While a `hubrelay` command runs: log lines on stderr, at `level` (the commands report
    outcomes themselves); as before afterwards (tests run commands and handlers in turn)."""
    saved = (_handler.to_stderr, logger.log_level)
    _handler.to_stderr = True
    logger.setLevel(level)
    try:
        yield
    finally:
        _handler.to_stderr = saved[0]
        logger.setLevel(saved[1])


def tracing_on(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether Powertools' Tracer would trace here, by its own rule (Tracer's
    _is_tracer_disabled, https://docs.powertools.aws.dev/lambda/python/latest/core/tracer/):
    not when POWERTOOLS_TRACE_DISABLED is true, and only inside Lambda (LAMBDA_TASK_ROOT),
    not under SAM local or Chalice.

    Creating a Tracer imports the X-Ray SDK even when it then stays disabled (some 250 ms of
    a cold start), so without tracing there is no Tracer at all.
    """
    disabled = environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower()
    if disabled in ("1", "true", "on", "yes", "y", "t"):
        return False
    local = environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE")
    return bool(environ.get("LAMBDA_TASK_ROOT")) and not local


def _tracer() -> Tracer | None:
    if not tracing_on():
        return None
    from aws_lambda_powertools import Tracer

    return Tracer()


metrics = Metrics()
tracer = _tracer()

R = TypeVar("R")
Handler = Callable[[dict[str, Any], Any], R]


def lambda_handler(handler: Handler[R]) -> Handler[R]:
    """A Lambda handler with the Lambda context in every log line, the request id as the
    correlation id, tracing, and its metrics flushed when it returns."""

    @metrics.log_metrics
    @functools.wraps(handler)
    def instrumented(event: dict[str, Any], context: Any) -> R:
        logger.set_correlation_id(context.aws_request_id)
        return handler(event, context)

    traced = instrumented if tracer is None else tracer.capture_lambda_handler(instrumented)
    return logger.inject_lambda_context(traced, clear_state=True)


def record_import(outcome: ImportOutcome) -> None:
    """Metrics and one summary log line for an importer invocation."""
    metrics.add_metric("FindingsReceived", MetricUnit.Count, outcome.received)
    metrics.add_metric("FindingsImported", MetricUnit.Count, outcome.imported)
    metrics.add_metric("FindingsQuarantined", MetricUnit.Count, len(outcome.quarantined))
    metrics.add_metric("FindingsFailed", MetricUnit.Count, len(outcome.unresolved))
    metrics.add_metric("ImportCalls", MetricUnit.Count, outcome.calls)
    metrics.add_metric("ImportThrottles", MetricUnit.Count, outcome.throttles)
    metrics.add_metric("ImportByteBudgetHalvings", MetricUnit.Count, outcome.budget_halvings)
    metrics.add_metric("ImportByteBudget", MetricUnit.Bytes, outcome.byte_budget)
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
        byte_budget=outcome.byte_budget,
    )


def record_route(outcome: RouteOutcome) -> None:
    """Metrics and log lines for one routed (or rejected) Security Hub event."""
    decision = outcome.decision
    metrics.add_metric("RouteFindingsForeign", MetricUnit.Count, len(decision.foreign))
    if decision.foreign:
        logger.warning(
            "findings of other accounts or Regions not acted on",
            event_id=decision.event_id,
            findings=decision.foreign[:10],
        )
    if not decision.accepted:
        metrics.add_metric("RouteEventsRejected", MetricUnit.Count, 1)
        logger.warning(
            "event rejected",
            reason=decision.reason,
            event_id=decision.event_id,
            rejected_findings=decision.rejected[:10],
        )
        return
    metrics.add_metric("RouteEventsAccepted", MetricUnit.Count, 1)
    metrics.add_metric("RouteFindings", MetricUnit.Count, len(decision.findings))
    metrics.add_metric("RouteFindingsRejected", MetricUnit.Count, len(decision.rejected))
    metrics.add_metric("RouteDeliveries", MetricUnit.Count, len(outcome.delivered))
    metrics.add_metric("RouteDuplicates", MetricUnit.Count, len(outcome.duplicates))
    metrics.add_metric("RouteDeliveryFailures", MetricUnit.Count, len(outcome.failed))
    unprocessed = outcome.writeback.unprocessed if outcome.writeback else []
    metrics.add_metric("RouteWriteBackFailures", MetricUnit.Count, len(unprocessed))
    for destination, keys, reason in outcome.failed:
        logger.error("delivery failed", destination=destination, findings=keys[:10], reason=reason)
    if unprocessed:
        logger.warning("write-back incomplete", unprocessed=unprocessed[:10])
    logger.info(
        "event routed",
        reason=decision.reason,
        event_id=decision.event_id,
        delivered=[(d, len(k), ref) for d, k, ref in outcome.delivered],
        duplicates=len(outcome.duplicates),
        failed=len(outcome.failed),
        dead_lettered=outcome.dead_lettered,
        skipped=decision.skipped[:20],
        rejected_findings=decision.rejected[:10],
    )


def record_collect(source: str, outcome: CollectOutcome) -> None:
    """Metrics and one summary log line for a collector run."""
    metrics.add_dimension("Source", source or "none")
    metrics.add_metric("CollectRecords", MetricUnit.Count, outcome.records)
    metrics.add_metric("CollectFindings", MetricUnit.Count, outcome.findings)
    metrics.add_metric("CollectEnqueued", MetricUnit.Count, outcome.enqueued)
    metrics.add_metric("CollectMessages", MetricUnit.Count, outcome.messages)
    metrics.add_metric("CollectUnchanged", MetricUnit.Count, outcome.actions["unchanged"])
    metrics.add_metric("CollectArchived", MetricUnit.Count, outcome.actions["archived"])
    metrics.add_metric("CollectMalformed", MetricUnit.Count, outcome.malformed)
    metrics.add_metric("CollectErrors", MetricUnit.Count, 1 if outcome.error else 0)
    metrics.add_metric("CollectStoppedEarly", MetricUnit.Count, int(outcome.stopped_early))
    log = logger.error if outcome.error else logger.info
    log("collect finished", **outcome.summary())


def record_syncback(
    via: str,
    outcome: SyncOutcome,
    status: int | None = None,
    refused: list[str] | None = None,
    pages: int = 0,
) -> None:
    """Metrics and one summary log line for a status callback or a vendor poll."""
    metrics.add_metric("SyncBackResolved", MetricUnit.Count, len(outcome.report()["resolved"]))
    metrics.add_metric("SyncBackUnchanged", MetricUnit.Count, len(outcome.unchanged))
    metrics.add_metric("SyncBackNotFound", MetricUnit.Count, len(outcome.not_found))
    metrics.add_metric("SyncBackFailed", MetricUnit.Count, len(outcome.failed))
    for line in (refused or [])[:20]:
        logger.warning("vendor closure refused", reason=line)
    log = logger.warning if outcome.failed or (status or 200) >= 400 else logger.info
    log(
        "status sync back",
        via=via,
        status=status,
        pages=pages,
        resolved_cspm=len(outcome.resolved_cspm),
        resolved_v2=len(outcome.resolved_v2),
        unchanged=outcome.unchanged,
        not_found=outcome.not_found,
        failed=outcome.failed,
    )
