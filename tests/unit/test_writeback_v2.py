"""The marks a V2 finding In Progress is routed with when a destination still lacks the
round the others were sent (a dead-letter replay, or the retry after DeadLetterError)."""

from __future__ import annotations

from hubrelay.route_types import marker, reopened_field
from hubrelay.writeback_v2 import owed_round_marks

ROUTE = ("webhook", "sns")


def sent(destination: str, reopened: int) -> dict[str, str]:
    return {marker(destination): "T-1", reopened_field(destination): str(reopened)}


def test_nothing_is_owed_when_every_destination_has_the_last_round() -> None:
    assert owed_round_marks({**sent("webhook", 2), **sent("sns", 2)}, ROUTE) is None


def test_nothing_is_owed_without_any_record() -> None:
    # In Progress without a record of ours: someone else moved it on.
    assert owed_round_marks({}, ROUTE) is None


def test_a_first_round_one_destination_missed_is_owed_as_a_first_delivery() -> None:
    # Given SNS sent the first round (0) and the webhook nothing
    owed = owed_round_marks(sent("sns", 0), ROUTE)
    # Then the marks are those before the round: none, so both are round 0 again
    assert owed == {}


def test_a_later_round_is_rolled_back_one_for_the_destinations_that_had_it() -> None:
    # Given SNS notified of reopening 3, the webhook last of reopening 2
    owed = owed_round_marks({**sent("webhook", 2), **sent("sns", 3)}, ROUTE)
    # Then SNS's count is 2 again (its delivery of round 3 keyed as before: the ledger's
    # duplicate) and the webhook's stays 2 (it is sent round 3)
    assert owed == {**sent("webhook", 2), **sent("sns", 2)}


def test_a_count_that_is_not_a_number_reads_as_none_notified() -> None:
    marks = {marker("sns"): "T-1", reopened_field("sns"): "many", **sent("webhook", 1)}
    owed = owed_round_marks(marks, ROUTE)
    assert owed is not None
    assert owed[reopened_field("webhook")] == "0"
    assert owed[reopened_field("sns")] == "many"
