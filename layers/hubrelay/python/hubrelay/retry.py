"""The one retry helper: exponential backoff with full jitter, bounded by attempts and time.

Full jitter (a delay drawn from 0 to min(cap, base * 2**n)) is what "Exponential Backoff
And Jitter" in the AWS Architecture Blog recommends
(https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/). A wait that
would run into the invocation's deadline is not taken: the caller gives up in time and
leaves the work to the next delivery or run.

Plain AWS calls keep botocore's own `standard` retry mode (hubrelay.aws); this helper is
for what botocore cannot retry: partial failures inside a successful response
(FailedFindings, UnprocessedItems, failed SendMessageBatch entries) and HTTP peers.

With `pace` (a rate per second and a burst) calls are also paced per scope with a token
bucket, the way the service meters them: Security Hub accepts 10 BatchImportFindings
requests per second with a burst of 30 per account and Region ("Quotas for Security Hub
CSPM", https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-limits.html).
A refusal for the rate (429) empties the scope's bucket, so the next attempt waits just the
time one request takes to refill (1 / rate) instead of a random backoff that overshoots.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


def _sleep(seconds: float) -> None:
    # Resolved at call time, so the local stack emulator can simulate the wait.
    time.sleep(seconds)


@runtime_checkable
class Clock(Protocol):
    """One time line: what time it is, and waiting on it. A token bucket reads `now` and
    its waits are taken with `sleep`, so a clock that simulates time (the bench's) sees its
    own waits pass, and the bucket agrees with whoever meters the calls on that clock."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """time.monotonic and time.sleep, both resolved at call time (the local stack emulator
    simulates a function's sleeps)."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        _sleep(seconds)


SYSTEM_CLOCK = SystemClock()
# A Clock, or a bare function of the time (its waits are then the Retry's own sleep).
ClockLike = Clock | Callable[[], float]


def _now_of(clock: ClockLike) -> Callable[[], float]:
    return clock.now if isinstance(clock, Clock) else clock


@dataclass
class TokenBucket:
    """Tokens refilled at `rate` per second up to `burst`; a call takes one.

    Time is `clock` (the system's monotonic clock by default) but never earlier than the
    end of the last wait, so a wait counts as passed even where sleeping is simulated on a
    clock that does not see it (time.monotonic under the local stack emulator).
    """

    rate: float
    burst: float
    clock: ClockLike = SYSTEM_CLOCK
    tokens: float | None = None  # None: full
    stamp: float = float("-inf")

    def reserve(self) -> float:
        """Take a token: the seconds to wait before the call it is for (0 when one is there)."""
        now = max(_now_of(self.clock)(), self.stamp)
        tokens = self.burst if self.tokens is None else self.tokens
        tokens = min(self.burst, tokens + (now - self.stamp) * self.rate)
        if tokens >= 1.0:
            self.tokens, self.stamp = tokens - 1.0, now
            return 0.0
        # A millisecond more than the refill takes: our clock and the service's never agree
        # exactly, and a call a hair early is refused.
        wait = (1.0 - tokens) / self.rate + 0.001
        self.tokens, self.stamp = 0.0, now + wait
        return wait

    def give_back(self) -> None:
        """A reserved token that was not used (no time was left for its call)."""
        self.tokens = min(self.burst, (self.tokens or 0.0) + 1.0)

    def empty(self) -> None:
        """The service refused a call for its rate: it has no token left for us now."""
        self.tokens, self.stamp = 0.0, max(_now_of(self.clock)(), self.stamp)


@dataclass
class Pace:
    """Token buckets per scope (for Security Hub: per account and Region), kept for the
    container's life so that later invocations start from what the earlier ones spent.

    `clock` is the time line the buckets refill on and their waits are slept on: the
    system's in Lambda, the bench's simulated one under `make bench`. A bare function of
    the time instead reads time only; the waits are then the Retry's sleep."""

    rate: float
    burst: float
    clock: ClockLike = SYSTEM_CLOCK
    buckets: dict[Hashable, TokenBucket] = field(default_factory=dict)

    def bucket(self, scope: Hashable) -> TokenBucket:
        if scope not in self.buckets:
            self.buckets[scope] = TokenBucket(self.rate, self.burst, self.clock)
        return self.buckets[scope]

    def sleep(self, seconds: float, fallback: Callable[[float], None]) -> None:
        """Wait for a token on the buckets' clock (`fallback` for a bare time function)."""
        (self.clock.sleep if isinstance(self.clock, Clock) else fallback)(seconds)


@dataclass
class Retry:
    """How often and how long to wait between attempts of one operation."""

    max_attempts: int = 5
    base_s: float = 0.2
    cap_s: float = 8.0
    # The invocation's remaining time, and what to keep of it after a wait (for the attempt
    # that follows and for reporting); None: no deadline (the CLI, tests).
    remaining_ms: Callable[[], int] | None = None
    reserve_ms: int = 0
    sleep: Callable[[float], None] = _sleep
    rng: random.Random = field(default_factory=random.Random, repr=False)
    # Calls paced per scope with a token bucket; None: not paced.
    pace: Pace | None = None

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait after `attempt` failed attempts (1 = the first): a peer's Retry-After
        (capped), else a full-jitter draw."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap_s)
        ceiling = min(self.cap_s, self.base_s * 2 ** min(attempt - 1, 30))
        return self.rng.uniform(0, ceiling)

    def time_for(self, seconds: float) -> bool:
        """Whether a wait of `seconds` still leaves `reserve_ms` before the deadline."""
        if self.remaining_ms is None:
            return True
        return self.remaining_ms() - self.reserve_ms >= seconds * 1000

    def pause(self, attempt: int, retry_after: float | None = None) -> bool:
        """Wait before attempt `attempt + 1`; False (without waiting) when the attempts or
        the time are spent."""
        if attempt >= self.max_attempts:
            return False
        seconds = self.delay(attempt, retry_after)
        if not self.time_for(seconds):
            return False
        self.sleep(seconds)
        return True

    def wait_turn(self, scope: Hashable) -> bool:
        """Wait for a token of `scope` before a call (at once when not paced); False
        (without waiting) when the wait would run into the deadline."""
        if self.pace is None:
            return True
        bucket = self.pace.bucket(scope)
        seconds = bucket.reserve()
        if seconds <= 0:
            return True
        if not self.time_for(seconds):
            bucket.give_back()
            return False
        self.pace.sleep(seconds, self.sleep)
        return True

    def throttled(self, scope: Hashable, attempt: int) -> bool:
        """After a refusal for the rate: empty `scope`'s bucket and allow attempt
        `attempt + 1` (whose `wait_turn` waits for the refill) if the attempts allow it.
        Not paced: a backoff like any other failure (`pause`)."""
        if self.pace is None:
            return self.pause(attempt)
        self.pace.bucket(scope).empty()
        return attempt < self.max_attempts
