"""Throughput figures for `make bench`: findings per second through the stack emulator.

The stack is template.yaml on moto's server (hubrelay_emulator.runner), the importer runs as its
event source mapping would, and the Security Hub contract extension enforces the documented
limit: 10 BatchImportFindings requests per second with a burst of 30 per account and Region,
as a token bucket.

How time is measured. moto answers a call in a few milliseconds of *this* machine's CPU,
which says nothing about Security Hub; counting it would make the figure moto's speed. So
the clock is the importer's clock:

    importer time = CPU time of the main thread while the importer function runs in-process
                    (hubrelay, Powertools, botocore building and parsing requests)
                  + simulated time (backoff sleeps inside the importer, and idle time
                    waiting for the next arrival, both on the stack's simulated clock)

moto runs in its own threads, so its CPU time is not in the importer's thread CPU time. The
token bucket refills on this same clock, so throttling, backoff and refill all happen on one
time line. Security Hub's own latency per call is *not* included (it cannot be measured
here): with a latency L per call and C concurrent importer invocations, the call rate is
also capped by C / L. The wall-clock rate of the same run is printed beside it; it is bound
by moto on this machine.

Steady state. Before each measurement the account's bucket is emptied (calls that Security
Hub refuses with 429 are made until it does), so a run measures the sustained rate and not
the 30-call burst; the importer's own token buckets (hubrelay.retry.Pace) are emptied with
it, as its own calls would have spent them in a sustained backlog, and they refill and wait
on the importer clock, Security Hub's time line. From idle, the burst takes 3,000 findings
at once on top of the figures.

The importer's backoff jitter is seeded per run (same code, same delays); CPU time still
varies from run to run, which moves calls against token refills a little.

Several accounts. hubrelay is deployed once per account and Region (a stack, or a StackSet
instance, per account: docs/operations.md), each stack with its own queue, importer and
Security Hub bucket. N accounts are N independent deployments running in parallel: each one
is run here on its own (one after the other, each with an empty bucket and a backlog, each
timed on its own importer clock). They share nothing, so the aggregate rate is the sum of
the accounts' own rates; the slowest account's rate is shown beside it. The ceiling is
N x 1,000 findings/s.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from hubrelay import asff, message
from hubrelay.packing import lower_bound
from hubrelay.settings import DEFAULT_BATCH_BYTE_BUDGET, MAX_FINDINGS_PER_CALL
from hubrelay_emulator import samples
from hubrelay_emulator import securityhub as hub
from hubrelay_emulator.demo import PARTNER_PRODUCT
from hubrelay_emulator.runner import StackEmulator

IMPORTER = "ImporterFunction"
RATE = 10.0  # requests per second, the documented limit the contract enforces
BURST = 30
CEILING = RATE * MAX_FINDINGS_PER_CALL  # findings per second per account and Region
FIRST_ACCOUNT = 400_000_000_000  # bench accounts: 400000000000, 400000000001, ...


class ImporterClock:
    """Importer CPU time (main thread, during importer invocations) + simulated time."""

    def __init__(self, stack: StackEmulator) -> None:
        self.stack = stack
        # Read from moto's server threads too (the token bucket), hence the main thread's
        # CPU clock by id rather than time.thread_time().
        self._cpu = time.pthread_getcpuclockid(threading.main_thread().ident or 0)
        self.cpu = 0.0
        self.wall = 0.0  # real time inside the importer, moto's answers included
        self.invocations = 0
        self._since: float | None = None
        original = stack.invoke

        def invoke(logical_id: str, event: Any) -> Any:
            if logical_id != IMPORTER:
                return original(logical_id, event)
            self.invocations += 1
            self._since, wall = time.clock_gettime(self._cpu), time.perf_counter()
            try:
                return original(logical_id, event)
            finally:
                self.cpu += time.clock_gettime(self._cpu) - self._since
                self.wall += time.perf_counter() - wall
                self._since = None

        stack.invoke = invoke  # type: ignore[method-assign]

    def __call__(self) -> float:
        running = 0.0 if self._since is None else time.clock_gettime(self._cpu) - self._since
        return self.cpu + running + self.stack.clock

    # hubrelay.retry.Clock: the importer's token buckets refill on this clock and wait on it,
    # as Security Hub's bucket (the contract's) refills on it: one time line for both.
    def now(self) -> float:
        return self()

    def sleep(self, seconds: float) -> None:
        """A wait of the importer. Only the function host's simulated sleep, in force while
        a function runs, moves this clock (the stack's, and the invocation's deadline with
        it); a real sleep would pass no time here and the wait would never end."""
        if self._since is None:
            raise RuntimeError("the importer waited outside an invocation: no time would pass")
        time.sleep(seconds)


@dataclass
class Run:
    """One measurement: counters are deltas over the run."""

    findings: int
    seconds: float  # on the importer clock
    wall_seconds: float  # real time + simulated time, moto included
    cpu_seconds: float
    slept_seconds: float  # backoff sleeps (simulated)
    importer_wall_seconds: float  # real time in the importer (moto included) + its sleeps
    calls: int
    throttled: int
    other_refusals: int
    lower_bound: int
    invocations: int

    @property
    def rate(self) -> float:
        return self.findings / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "findings": self.findings,
            "importer_seconds": round(self.seconds, 3),
            "importer_cpu_seconds": round(self.cpu_seconds, 3),
            "backoff_sleep_seconds": round(self.slept_seconds, 3),
            "importer_duration_seconds": round(self.importer_wall_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "findings_per_s": round(self.rate, 1),
            "per_ceiling": round(self.rate / CEILING, 3),
            "wall_findings_per_s": round(self.findings / self.wall_seconds, 1),
            "calls": self.calls,
            "throttled": self.throttled,
            # Every refused call is sent again (the run checks that all findings got in).
            "retries": self.throttled + self.other_refusals,
            "calls_per_lower_bound": round(self.calls / self.lower_bound, 3)
            if self.lower_bound
            else None,
            "accepted_calls_per_lower_bound": round(
                (self.calls - self.throttled - self.other_refusals) / self.lower_bound, 3
            )
            if self.lower_bound
            else None,
            "invocations": self.invocations,
        }


class Bench:
    """A stack emulator with the importer clock, bench accounts subscribed to the product."""

    def __init__(self, accounts: int, seed: int = 3) -> None:
        self.stack = StackEmulator(parameters={"ProductArn": PARTNER_PRODUCT})
        self.accounts = [str(FIRST_ACCOUNT + k) for k in range(accounts)]
        self.rng = random.Random(seed)
        self.serial = 0
        self.slept = 0.0
        self.runs = 0

    def __enter__(self) -> Bench:
        self.stack.up()
        self.clock = ImporterClock(self.stack)
        self.stack.contract.clock = self.clock
        self.stack.contract.rate_per_second = RATE
        self.stack.contract.burst = BURST
        hub.subscribe(self.accounts, self.stack.region, PARTNER_PRODUCT, self.stack.endpoint)
        self.mapping = next(m for m in self.stack.mappings if m.function == IMPORTER)
        self.queue = self.stack.outputs["FindingsQueueUrl"]
        self.sqs = self.stack.client("sqs")
        # One cold start, outside every measurement (import time is measured on its own).
        self.enqueue(self.findings(self.accounts[0], 1))
        self.stack.drain()
        # The importer paces its calls with token buckets (hubrelay.retry.Pace) on the
        # system clock: in AWS that is real time, as Security Hub's is. Here Security Hub's
        # bucket refills on the importer clock, which leaves moto's time out, so the
        # importer's buckets refill and wait on it too.
        self.pace = self.stack.function(IMPORTER).module.services.pace  # type: ignore[union-attr]
        if self.pace is not None:
            self.pace.clock = self.clock
            self.pace.buckets.clear()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.down()
        hub.uninstall()

    def findings(self, account: str, count: int) -> list[dict[str, Any]]:
        """Small control findings (about 1.5 KB): 100 fit in a call, as the ceiling assumes."""
        out = []
        for _ in range(count):
            self.serial += 1
            out.append(
                samples.control_finding(self.rng, self.serial, account, product=PARTNER_PRODUCT)
            )
        return out

    def enqueue(self, findings: list[dict[str, Any]]) -> None:
        for body in message.pack_messages(findings):
            self.sqs.send_message(QueueUrl=self.queue, MessageBody=body)

    def empty_bucket(self) -> None:
        """Spend the burst: calls until Security Hub answers 429 (nothing is stored)."""
        client = self.stack.client("securityhub")
        # Refused by Security Hub (Title over 256), so nothing is stored; botocore does not
        # check maximum lengths, so the call is made.
        bad = {**self.findings(self.accounts[0], 1)[0], "Title": "T" * 300}
        for _ in range(BURST * 2):
            try:
                client.batch_import_findings(Findings=[bad])
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "TooManyRequestsException":
                    return
                raise
        raise RuntimeError("the contract never throttled: is its rate limit on?")

    def poll(self) -> int:
        before = self.stack.clock
        polled = self.stack.poll(self.mapping)
        self.slept += self.stack.clock - before  # only sleeps inside the importer move it
        return polled

    @contextmanager
    def measure(self, findings: list[dict[str, Any]]) -> Iterator[Callable[[], Run]]:
        """Counters around a block that imports `findings`; yields a function for the Run."""
        self.empty_bucket()
        if self.pace is not None:
            # The importer's own buckets for these accounts are spent with Security Hub's:
            # in a sustained backlog its own calls spent the burst. Left full, its first
            # call would be refused (Security Hub's bucket was emptied behind its back) and
            # the run would measure recovering from someone else's use of the quota, not
            # the sustained rate (tests/integration/test_importer.py shows that recovery).
            for account in {f["AwsAccountId"] for f in findings}:
                self.pace.bucket((account, self.stack.region)).empty()
        # The importer's backoff jitter comes from the `random` module: seeded per run, so
        # two bench runs of the same code draw the same delays.
        self.runs += 1
        random.seed(f"hubrelay-bench-{self.runs}")
        mark = _Mark.read(self)
        result: list[Run] = []
        yield lambda: result[0]
        result.append(_run_since(self, mark, findings))

    def backlog(self, account: str, count: int) -> Run:
        """`count` findings already queued (a backlog): how fast does the importer clear it?"""
        findings = self.findings(account, count)
        self.enqueue(findings)
        with self.measure(findings) as run:
            while self.poll():
                pass
        return run()

    def offered(self, rate: float, duration: float, tick: float = 1.0) -> Run:
        """Findings arriving at `rate` per second for `duration` seconds (importer clock).

        A producer enqueues at the end of every `tick` what arrived during it; the event
        source mapping polls whenever messages are visible (the batching window adds latency,
        not capacity: see the latency figures). The rate is findings / time from the first
        arrival to the last import, so the drain after the last arrival counts against it.
        """
        ticks = math.ceil(duration / tick)
        per_tick = [
            self.findings(self.accounts[0], round(rate * tick * (k + 1)) - round(rate * tick * k))
            for k in range(ticks)
        ]
        everything = [f for batch in per_tick for f in batch]
        with self.measure(everything) as run:
            start, sent = self.clock(), 0
            while True:
                now = self.clock() - start
                # What arrived during a tick is enqueued at its end. Within a nanosecond:
                # advancing to a tick's end can land a rounding error short of it, and an
                # advance smaller than the clock's last bit does not move it, so without
                # the slack the loop advanced by 1e-15 s forever (the "hang" of this run).
                while sent < ticks and (sent + 1) * tick <= now + 1e-9:
                    self.enqueue(per_tick[sent])
                    sent += 1
                if self.poll():
                    continue
                if sent >= ticks:
                    break
                self.stack.advance((sent + 1) * tick - now)  # idle until the next tick ends
        return run()


@dataclass(frozen=True)
class _Mark:
    """The counters a Run is the difference of, read as its block starts."""

    calls: int
    throttled: int
    cpu: float
    slept: float
    invocations: int
    importer_wall: float
    clock: float  # the importer clock
    wall: float
    simulated: float  # the stack's simulated seconds

    @classmethod
    def read(cls, bench: Bench) -> _Mark:
        contract = bench.stack.contract
        return cls(
            calls=len(contract.calls),
            throttled=contract.throttled,
            cpu=bench.clock.cpu,
            slept=bench.slept,
            invocations=bench.clock.invocations,
            importer_wall=bench.clock.wall,
            clock=bench.clock(),
            wall=time.perf_counter(),
            simulated=bench.stack.clock,
        )


def _run_since(bench: Bench, mark: _Mark, findings: list[dict[str, Any]]) -> Run:
    """The Run of importing `findings` since `mark`; RuntimeError unless every one got in."""
    contract = bench.stack.contract
    calls = contract.calls[mark.calls :]
    imported = sum(c.findings for c in calls if c.outcome == "ok")
    refused = [c for c in calls if c.outcome not in ("ok", "TooManyRequestsException")]
    # More than sent is a call imported twice: its answer outlived botocore's read
    # timeout on a loaded machine and the importer tried again (a harmless overwrite).
    if imported < len(findings) or any(c.outcome == "partial" for c in calls):
        raise RuntimeError(f"imported {imported} of {len(findings)} findings: {refused[:3]}")
    by_group: dict[str, list[int]] = {}
    for f in findings:
        by_group.setdefault(f["AwsAccountId"], []).append(asff.finding_size(f))
    return Run(
        findings=len(findings),
        seconds=bench.clock() - mark.clock,
        wall_seconds=time.perf_counter() - mark.wall + bench.stack.clock - mark.simulated,
        cpu_seconds=bench.clock.cpu - mark.cpu,
        slept_seconds=bench.slept - mark.slept,
        importer_wall_seconds=bench.clock.wall - mark.importer_wall + bench.slept - mark.slept,
        calls=len(calls),
        throttled=contract.throttled - mark.throttled,
        other_refusals=len(refused),
        lower_bound=sum(lower_bound(s, DEFAULT_BATCH_BYTE_BUDGET) for s in by_group.values()),
        invocations=bench.clock.invocations - mark.invocations,
    )


def offered_load(rates: list[float], duration: float) -> list[dict[str, Any]]:
    rows = []
    with Bench(accounts=1) as bench:
        for rate in rates:
            run = bench.offered(rate, duration)
            rows.append(
                {"offered_per_s": rate, "offered_per_ceiling": rate / CEILING, **run.as_dict()}
            )
    return rows


def scaling(account_counts: list[int], per_account: int) -> list[dict[str, Any]]:
    rows = []
    with Bench(accounts=max(account_counts)) as bench:
        for count in account_counts:
            runs = [bench.backlog(account, per_account) for account in bench.accounts[:count]]
            rate = sum(r.rate for r in runs)
            rows.append(
                {
                    "accounts": count,
                    "findings": sum(r.findings for r in runs),
                    "ceiling_per_s": CEILING * count,
                    "findings_per_s": round(rate, 1),
                    "per_ceiling": round(rate / (CEILING * count), 3),
                    "slowest_account_per_ceiling": round(min(r.rate for r in runs) / CEILING, 3),
                    "fastest_account_per_ceiling": round(max(r.rate for r in runs) / CEILING, 3),
                    "calls": sum(r.calls for r in runs),
                    "throttled": sum(r.throttled for r in runs),
                    "lower_bound": sum(r.lower_bound for r in runs),
                    "importer_cpu_s": round(sum(r.cpu_seconds for r in runs), 3),
                    "importer_duration_s": round(sum(r.importer_wall_seconds for r in runs), 3),
                    "backoff_sleep_s": round(sum(r.slept_seconds for r in runs), 3),
                }
            )
    return rows


def run(quick: bool = False) -> dict[str, Any]:
    rates = (
        [250.0, 500.0, 1000.0, 2000.0] if quick else [250.0, 500.0, 750.0, 1000.0, 1500.0, 2500.0]
    )
    return {
        "limit": {"requests_per_s": RATE, "burst": BURST, "ceiling_findings_per_s": CEILING},
        "offered_load": offered_load(rates, duration=2.0 if quick else 6.0),
        "scaling": scaling([1, 5] if quick else [1, 5, 20], per_account=500 if quick else 1500),
    }
