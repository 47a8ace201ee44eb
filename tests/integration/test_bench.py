"""`make bench` runs end to end (its quick form) and writes the headline figures of issue 14.

The bench is not otherwise run by the tests and broke silently twice; this runs every
section once, small (`--quick`), into a temporary folder (the committed plots stay as they
are), and holds results.json to the contract of issue 14: a `headline` object with exactly
the nine keys, each a number, each with its same-run baseline and its goal in
`headline_detail`. No figure is held to its goal here: speed goals live in the bench itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

HEADLINE_KEYS = {
    "calls_over_bound",
    "throughput_ratio",
    "latency_p99_s",
    "cold_start_ratio",
    "importer_memory_ratio",
    "collector_memory_ratio",
    "cpu_us_per_finding",
    "own_cost_ratio",
    "unchanged_reimports",
}


@pytest.mark.slow
def test_quick_bench_writes_every_headline_figure_with_its_baseline_and_goal(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HUBRELAY_"))}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--findings", "200", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    headline, detail = results["headline"], results["headline_detail"]
    assert set(headline) == HEADLINE_KEYS
    for key, value in headline.items():
        assert isinstance(value, int | float), (key, value)
        assert not isinstance(value, bool), (key, value)
        assert detail[key]["baseline"], f"{key} has no same-run baseline"
        assert detail[key]["goal"].split()[0] in ("<=", ">=", "=="), detail[key]
        assert isinstance(detail[key]["met"], bool), detail[key]
    assert (tmp_path / "throughput.png").stat().st_size > 0
    assert (tmp_path / "latency.png").stat().st_size > 0
    assert "Headline (issue 14)" in done.stdout
    # The importer's memory beside the largest batch Lambda delivers (6 MB of payload).
    limit = results["memory"]["importer"]["at_payload_limit"]
    assert 0 < limit["records"] <= 10_000
    assert limit["peak_mb"] > limit["baseline_imports_mb"]
