"""The oracle soak, short: every scenario of `make soak` over a few simulated days instead
of a month (tests/soak; docs/operations.md, "The oracle soak")."""

from __future__ import annotations

import pytest

from tests.soak import world
from tests.soak.__main__ import soak, summary


@pytest.mark.slow
def test_a_short_soak_ends_with_security_hub_holding_exactly_the_oracles_findings() -> None:
    results = soak(list(world.SCENARIOS), seed=11, days=2, tick_seconds=3 * 3600, workers=2)

    line = summary(results)
    assert [r.mismatches[:3] for r in results] == [[] for _ in results], line
    billed, minimum = sum(r.billed for r in results), sum(r.minimum for r in results)
    assert minimum > 0, line
    assert billed <= 1.05 * minimum, line
    assert all(r.denied == 0 for r in results), line
    assert sum(r.runs for r in results) == sum(len(s.ticks) for s in _scenarios())


def _scenarios() -> list[world.Scenario]:
    return [world.build(n, 11 + i, 2, 3 * 3600) for i, n in enumerate(world.SCENARIOS)]
