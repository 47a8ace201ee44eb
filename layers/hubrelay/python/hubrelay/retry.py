"""The one retry helper: exponential backoff with full jitter, bounded by attempts and time.

Full jitter (a delay drawn from 0 to min(cap, base * 2**n)) is what "Exponential Backoff
And Jitter" in the AWS Architecture Blog recommends
(https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/). A wait that
would run into the invocation's deadline is not taken: the caller gives up in time and
leaves the work to the next delivery or run.

Plain AWS calls keep botocore's own `standard` retry mode (hubrelay.aws); this helper is
for what botocore cannot retry: partial failures inside a successful response
(FailedFindings, UnprocessedItems, failed SendMessageBatch entries) and HTTP peers.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def _sleep(seconds: float) -> None:
    # Resolved at call time, so the local stack emulator can simulate the wait.
    time.sleep(seconds)


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
