"""Latency from a finding's appearance at the source to its import: a discrete model.

An hour of findings is simulated, event by event, with the stack's defaults and with times
measured in the same bench run; nothing here sleeps. The model:

1. Findings appear at the source as a Poisson process (`rate` per second). A source that
   produces findings in groups (a scanner report, `per_event` findings each) produces its
   groups as a Poisson process of rate / per_event, every finding of a group appearing at
   the group's time.
2. How the collector gets to them, by configuration:
   - Event-driven (the default for reports put in S3 and for AWS Health events): each
     group is an event (S3 Object Created, an AWS Health event) that EventBridge delivers
     to the collector after a delay: DELIVERY_BASE_S plus an exponential tail of mean
     DELIVERY_TAIL_S. AWS publishes no latency figure for either hop (S3 to EventBridge,
     EventBridge to Lambda), so these are assumptions, printed with the results: S3 says
     its notifications are "typically delivered in seconds but can sometimes take a minute
     or longer" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventNotifications.html);
     that rare tail is not in the model. The collector has a reserved concurrency of 1 (its
     cursor's lock): an event that finds it busy is throttled, and Lambda returns it to
     its asynchronous queue and tries again after 1 s, then intervals doubling up to 5
     minutes ("How Lambda handles errors and retries with asynchronous invocation",
     https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html;
     the jitter is not documented: the model waits half to all of each interval);
     each run pays the start-up time and the collector time per finding. A burst row puts
     BURST_REPORTS reports in S3 at once, at the start of the hour, on top of the load.
   - Scheduled (EventBridge Scheduler, `schedule_s`; the polled vendor API, and every
     source with EventDrivenCollection off): the run at time k*S reads every finding that
     appeared since the previous run.
   Every run first pays a fixed start-up time (the collector handler's measured cold
   start: import + first request - warm request, i.e. every run is taken to be a cold
   start), then maps and tracks findings one after another at the measured collector time
   per finding, and enqueues them in chunks of 500 (the collector's chunk size) as each
   chunk is done, in messages of at most one call's worth: 100 findings, 1 MiB (the
   queue's MaximumMessageSize).
   A producer that writes to the queue itself ("direct") skips this step: each finding is
   enqueued when it appears, one message each.
3. The event source mapping gathers messages into a batch that starts with the first
   message and closes when the batching window (`ImportBatchingWindowSeconds`, 20 s) has
   passed, or when the batch holds 10,000 messages (`ImportBatchSize`) or 6 MB (Lambda's
   invocation payload), whichever comes first. At most 2 invocations run at once
   (`ImporterMaxConcurrency`); a batch waits for a free one.
4. The importer packs the batch's findings across its messages (`hubrelay.importer`) and
   sends ceil(n / 100) BatchImportFindings calls one after another, each
   taking the measured importer time per call (in-process, moto's answer included as a
   stand-in for Security Hub's latency), and each waiting for a token of the 10 requests/s,
   burst 30 bucket. A finding is imported when its call returns.

Latency = import time - appearance time, over every finding that appeared in the hour.
Retries after throttling are not modelled beyond waiting for a token (the importer's
measured throughput, in the throughput figures, is within a few percent of that ideal).
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from typing import Any

HOUR = 3600.0
CHUNK = 500
MESSAGE_BYTES = 1024 * 1024  # template.yaml FindingsQueue MaximumMessageSize
BATCH_MESSAGES = 10_000  # template.yaml ImportBatchSize
PAYLOAD_BYTES = 6 * 1024 * 1024
CONCURRENCY = 2
PER_CALL = 100
RATE, BURST = 10.0, 30
# EventBridge delivery of an S3 or Health event to the collector (assumptions: docstring).
DELIVERY_BASE_S = 0.5
DELIVERY_TAIL_S = 1.0
REPORT_FINDINGS = 50  # findings per scanner report
# AWS Health events come a few a month to an account; 0.1 a second (360 an hour) is already
# a storm. Their rows run at the load asked for, up to this.
HEALTH_MAX_PER_S = 0.1
BURST_REPORTS = 100  # a pipeline scanning a hundred images at once
THROTTLE_RETRY_S, THROTTLE_RETRY_MAX_S = 1.0, 300.0


@dataclass(frozen=True)
class Measured:
    """Times taken from this bench run."""

    collector_start_s: float
    collector_s_per_finding: float
    import_s_per_call: float
    finding_bytes: int


@dataclass(frozen=True)
class Config:
    name: str
    schedule_s: float | None  # None: the producer writes to the queue directly
    window_s: float
    events: bool = False  # each group of findings is an EventBridge event to the collector
    per_event: int = 1  # findings per group (a report's)
    kind: str = ""  # which headline figure a default row is: events, polled
    max_rate: float | None = None  # the most this source produces, findings/s
    burst: int = 0  # groups that appear at once at the start of the hour


CONFIGS = (
    Config("default, reports in S3: events", None, 20.0, True, REPORT_FINDINGS, "events"),
    Config("default, AWS Health: events", None, 20.0, True, 1, "events", HEALTH_MAX_PER_S),
    Config(
        f"burst: {BURST_REPORTS} reports at once, events",
        None,
        20.0,
        True,
        REPORT_FINDINGS,
        burst=BURST_REPORTS,
    ),
    Config("default, vendor API: schedule 1 min", 60.0, 20.0, kind="polled"),
    Config("events off: schedule 5 min, window 20 s", 300.0, 20.0),
    Config("events off: schedule 5 min, window 0 s", 300.0, 0.0),
    Config("direct to the queue, window 20 s", None, 20.0),
)


class Bucket:
    def __init__(self) -> None:
        self.tokens, self.stamp = float(BURST), 0.0

    def take(self, at: float) -> float:
        """When a call wanting to start at `at` gets its token.

        Calls of two overlapping invocations may come out of time order; an earlier one
        then refills nothing, which only makes the model stricter than the service.
        """
        if at > self.stamp:
            self.tokens = min(float(BURST), self.tokens + (at - self.stamp) * RATE)
            self.stamp = at
        if self.tokens < 1:
            at += (1 - self.tokens) / RATE
            self.tokens, self.stamp = 1.0, at
        self.tokens -= 1
        return at


def _messages(
    config: Config, groups: list[float], measured: Measured, rng: random.Random
) -> list[tuple[float, list[float]]]:
    """(enqueue time, appearance times of its findings) for every queue message; `groups`
    are the appearance times of the source's groups of `config.per_event` findings."""
    if config.events:
        return _event_runs(config, groups, measured, rng)
    arrivals = [t for t in groups for _ in range(config.per_event)]
    if config.schedule_s is None:
        return [(t, [t]) for t in arrivals]
    out: list[tuple[float, list[float]]] = []
    pending = list(arrivals)
    run = 1
    while pending:
        start = run * config.schedule_s
        batch = [t for t in pending if t < start]
        pending = pending[len(batch) :]
        out += _run(start, batch, measured)[1]
        run += 1
    return out


def _run(
    start: float, batch: list[float], measured: Measured
) -> tuple[float, list[tuple[float, list[float]]]]:
    """One collector run from `start` over findings that appeared at `batch`: when it
    ends, and the messages it enqueues as each chunk is done."""
    per_message = max(1, min(PER_CALL, MESSAGE_BYTES // measured.finding_bytes))
    out: list[tuple[float, list[float]]] = []
    clock = start + measured.collector_start_s
    for first in range(0, len(batch), CHUNK):
        chunk = batch[first : first + CHUNK]
        clock += len(chunk) * measured.collector_s_per_finding
        for m in range(0, len(chunk), per_message):
            out.append((clock, chunk[m : m + per_message]))
    return clock, out


def _event_runs(
    config: Config, groups: list[float], measured: Measured, rng: random.Random
) -> list[tuple[float, list[float]]]:
    """One collector run per event, one at a time (reserved concurrency 1); an event that
    finds the collector busy is throttled and tried again after Lambda's backoff."""
    # (time of the attempt, appearance, attempts so far)
    attempts = [(t + DELIVERY_BASE_S + rng.expovariate(1 / DELIVERY_TAIL_S), t, 0) for t in groups]
    heapq.heapify(attempts)
    out: list[tuple[float, list[float]]] = []
    free = 0.0
    while attempts:
        at, appeared, tries = heapq.heappop(attempts)
        if at < free:
            # Lambda documents the doubling, not its jitter: half to all of the interval.
            wait = min(THROTTLE_RETRY_S * 2**tries, THROTTLE_RETRY_MAX_S)
            wait *= rng.uniform(0.5, 1.0)
            heapq.heappush(attempts, (at + wait, appeared, tries + 1))
            continue
        free, messages = _run(at, [appeared] * config.per_event, measured)
        out += messages
    return sorted(out, key=lambda m: m[0])


def _batches(
    config: Config, messages: list[tuple[float, list[float]]], measured: Measured
) -> list[tuple[float, list[float]]]:
    """(close time, appearance times) of every batch the event source mapping hands over."""
    out: list[tuple[float, list[float]]] = []
    i = 0
    while i < len(messages):
        opened = messages[i][0]
        deadline = opened + config.window_s
        findings: list[float] = []
        count = size = 0
        closed = deadline
        while i < len(messages) and messages[i][0] <= deadline:
            body = len(messages[i][1]) * measured.finding_bytes
            if count and size + body > PAYLOAD_BYTES:
                closed = messages[i - 1][0]  # as full as it gets: invoked at once
                break
            findings += messages[i][1]
            count, size = count + 1, size + body
            i += 1
            if count == BATCH_MESSAGES:
                closed = messages[i - 1][0]
                break
        out.append((closed, findings))
    return out


def simulate(config: Config, rate: float, measured: Measured, seed: int = 1) -> dict[str, Any]:
    rate = min(rate, config.max_rate or rate)
    rng = random.Random(seed)
    groups: list[float] = []
    t = rng.expovariate(rate / config.per_event)
    while t < HOUR:
        groups.append(t)
        t += rng.expovariate(rate / config.per_event)
    groups = sorted([0.0] * config.burst + groups)
    bucket = Bucket()
    slots = [0.0] * CONCURRENCY
    latencies: list[float] = []
    invocations = 0
    messages = _messages(config, groups, measured, rng)
    for closed, findings in _batches(config, messages, measured):
        slot = min(range(CONCURRENCY), key=lambda s: slots[s])
        clock = max(closed, slots[slot])
        invocations += 1
        for first in range(0, len(findings), PER_CALL):
            clock = bucket.take(clock) + measured.import_s_per_call
            latencies += [clock - appeared for appeared in findings[first : first + PER_CALL]]
        slots[slot] = clock
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, math.ceil(p / 100 * len(latencies)) - 1)], 1)

    return {
        "config": config.name,
        "kind": config.kind,
        "findings_per_s": rate,
        "findings": len(latencies),
        "importer_invocations": invocations,
        "p50_s": pct(50),
        "p90_s": pct(90),
        "p99_s": pct(99),
        "max_s": round(latencies[-1], 1),
        "mean_s": round(sum(latencies) / len(latencies), 1),
    }


def run(measured: Measured, rates: tuple[float, ...] = (1.0, 20.0)) -> dict[str, Any]:
    return {
        "measured": vars(measured),
        "assumed": {
            "eventbridge_delivery_base_s": DELIVERY_BASE_S,
            "eventbridge_delivery_tail_mean_s": DELIVERY_TAIL_S,
            "findings_per_report": REPORT_FINDINGS,
            "health_events_max_per_s": HEALTH_MAX_PER_S,
            "lambda_throttle_retry_s": [THROTTLE_RETRY_S, THROTTLE_RETRY_MAX_S],
        },
        # "load": which of `rates` a row was asked to run at (a source may produce less).
        "rows": [
            {**simulate(c, r, measured), "load": i} for i, r in enumerate(rates) for c in CONFIGS
        ],
    }
