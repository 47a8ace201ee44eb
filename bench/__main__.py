"""`make bench`: figures as ratios against a baseline or a limit measured in the same run.

Machines are noisy, so no figure here is an absolute time on its own: CPU costs are shown
next to the cost of `json.dumps` of the same findings (what any integration pays to send
them), and call counts next to the lower bound max(ceil(n/100), ceil(bytes/budget)) and to
naive chunking by 100. Results go to bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hubrelay import asff
from hubrelay.packing import Sized, lower_bound, pack
from hubrelay.settings import DEFAULT_BATCH_BYTE_BUDGET
from hubrelay_local import samples

RESULTS = Path(__file__).with_name("results.json")

MIXES: dict[str, Callable[[random.Random, int], dict[str, Any]]] = {
    "controls (small)": lambda rng, n: samples.control_finding(rng, n, "111111111111"),
    "vulnerabilities (large)": lambda rng, n: samples.vulnerability_finding(rng, n, "111111111111"),
    "80/20 mix": lambda rng, n: (
        samples.vulnerability_finding if rng.random() < 0.2 else samples.control_finding
    )(rng, n, "111111111111"),
}


def packing(count: int) -> list[dict[str, Any]]:
    rows = []
    for name, make in MIXES.items():
        rng = random.Random(1)
        findings = [make(rng, n) for n in range(count)]
        sizes = [asff.finding_size(f) for f in findings]
        group = ("us-east-1", "111111111111")
        calls = pack([Sized(i, group, s) for i, s in enumerate(sizes)], DEFAULT_BATCH_BYTE_BUDGET)
        naive = [sizes[i : i + 100] for i in range(0, len(sizes), 100)]
        bound = lower_bound(sizes, DEFAULT_BATCH_BYTE_BUDGET)
        rows.append(
            {
                "mix": name,
                "findings": count,
                "mean_bytes": sum(sizes) // len(sizes),
                "lower_bound": bound,
                "calls": len(calls),
                "calls_per_bound": round(len(calls) / bound, 3),
                "naive_calls": len(naive),
                "naive_calls_over_budget": sum(
                    1 for c in naive if sum(c) > DEFAULT_BATCH_BYTE_BUDGET
                ),
            }
        )
    return rows


def _per_finding(work: Callable[[], object], count: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best / count * 1e6


def cpu(count: int) -> dict[str, Any]:
    rng = random.Random(2)
    findings = [MIXES["80/20 mix"](rng, n) for n in range(count)]
    baseline = _per_finding(lambda: [json.dumps(f) for f in findings], count)
    validate = _per_finding(lambda: [asff.validate_finding(f) for f in findings], count)

    def packing_run() -> object:
        sized = [Sized(i, ("r", "a"), asff.finding_size(f)) for i, f in enumerate(findings)]
        return pack(sized, DEFAULT_BATCH_BYTE_BUDGET)

    packing_us = _per_finding(packing_run, count)
    return {
        "findings": count,
        "baseline_json_dumps_us": round(baseline, 1),
        "validate_us": round(validate, 1),
        "validate_per_baseline": round(validate / baseline, 2),
        "pack_us": round(packing_us, 1),
        "pack_per_baseline": round(packing_us / baseline, 2),
    }


def render(results: dict[str, Any]) -> str:
    lines = ["", "Packing: BatchImportFindings calls for one (Region, account) group"]
    lines.append(
        f"{'mix':26} {'n':>6} {'mean B':>8} {'bound':>6} {'calls':>6} {'ratio':>6} "
        f"{'naive':>6} {'naive>budget':>13}"
    )
    for row in results["packing"]:
        lines.append(
            f"{row['mix']:26} {row['findings']:>6} {row['mean_bytes']:>8} {row['lower_bound']:>6} "
            f"{row['calls']:>6} {row['calls_per_bound']:>6} {row['naive_calls']:>6} "
            f"{row['naive_calls_over_budget']:>13}"
        )
    c = results["cpu"]
    lines += [
        "",
        f"CPU per finding (80/20 mix, {c['findings']} findings), against json.dumps of the "
        f"same finding ({c['baseline_json_dumps_us']} us):",
        f"  validation   {c['validate_us']:>8} us  = {c['validate_per_baseline']}x baseline",
        f"  packing      {c['pack_us']:>8} us  = {c['pack_per_baseline']}x baseline",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--findings", type=int, default=2000)
    args = parser.parse_args()
    results = {"packing": packing(args.findings), "cpu": cpu(min(args.findings, 1000))}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
