"""The one retry helper's token bucket: the waits it asks for, on a clock the test moves."""

from __future__ import annotations

import pytest

from hubrelay.retry import Pace, Retry, TokenBucket


def test_a_full_bucket_gives_its_burst_at_once_then_one_token_per_refill():
    now = [0.0]
    bucket = TokenBucket(rate=10.0, burst=3, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    # The fourth waits for one refill (and a millisecond, never a hair early).
    assert bucket.reserve() == pytest.approx(0.101)


def test_a_bucket_counts_a_wait_as_passed_when_the_clock_did_not_move():
    # Sleeps simulated by the local stack emulator do not move time.monotonic.
    bucket = TokenBucket(rate=10.0, burst=1, clock=lambda: 0.0)
    waits = [bucket.reserve() for _ in range(4)]
    assert waits[0] == 0.0
    assert waits[1:] == pytest.approx([0.101] * 3)


def test_a_429_empties_the_bucket():
    now = [5.0]
    bucket = TokenBucket(rate=10.0, burst=30, clock=lambda: now[0])
    bucket.empty()
    assert bucket.reserve() == pytest.approx(0.101)


def test_retry_waits_its_turn_per_scope_and_not_into_the_deadline():
    slept: list[float] = []
    pace = Pace(rate=10.0, burst=1, clock=lambda: 0.0)
    retry = Retry(sleep=slept.append, pace=pace, remaining_ms=lambda: 1_000, reserve_ms=950)
    assert retry.wait_turn(("111111111111", "us-east-1"))
    assert retry.wait_turn(("222222222222", "us-east-1"))  # another account's own bucket
    assert slept == []
    # The next call of the first account would wait 0.101 s with only 0.05 s to spare.
    assert not retry.wait_turn(("111111111111", "us-east-1"))
    assert slept == []


def test_a_throttled_attempt_is_retried_without_a_random_backoff_while_attempts_last():
    slept: list[float] = []
    retry = Retry(max_attempts=3, sleep=slept.append, pace=Pace(10.0, 30, clock=lambda: 0.0))
    scope = ("111111111111", "us-east-1")
    assert retry.throttled(scope, 2)
    assert not retry.throttled(scope, 3)
    assert slept == []
    assert retry.wait_turn(scope)
    assert slept == pytest.approx([0.101])


class SimulatedClock:
    """A clock whose time moves only by its own waits (the bench's, the emulator's)."""

    def __init__(self) -> None:
        self.time = 0.0
        self.waits: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.time += seconds


def test_a_pace_on_a_clock_refills_and_waits_on_that_one_time_line():
    clock = SimulatedClock()
    retry_slept: list[float] = []
    retry = Retry(sleep=retry_slept.append, pace=Pace(rate=10.0, burst=2, clock=clock))
    scope = ("111111111111", "us-east-1")
    for _ in range(5):
        assert retry.wait_turn(scope)
    # The burst at once, then one refill per call, slept on the clock (never the Retry's
    # own sleep), so the bucket sees each wait as passed and asks for no more.
    assert clock.waits == pytest.approx([0.101] * 3)
    assert clock.time == pytest.approx(0.303)
    assert retry_slept == []
