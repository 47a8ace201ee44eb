"""Print how many inputs each parser got, and the slowest one, after a fuzz run."""

from __future__ import annotations

from typing import Any

from tests.fuzz.harness import EXAMPLES, HANG_SECONDS, LONG, STATS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not STATS.inputs:
        return
    bound = f", each bounded to {HANG_SECONDS:g} s" if LONG else ""
    terminalreporter.section(f"fuzz: up to {EXAMPLES} generated inputs per parser{bound}")
    for line in STATS.lines():
        terminalreporter.write_line(line)
