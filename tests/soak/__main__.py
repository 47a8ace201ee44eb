"""`make soak`: every scenario of a simulated month through the real template, checked by
the oracle. Usage: python -m tests.soak [--days N] [--tick-hours H] [--workers W]
[--scenario NAME ...] [--seed S]. Prints a table and, last, the summary line."""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

from tests.soak import driver, world


def one(name: str, seed: int, days: int, tick_seconds: int) -> driver.Result:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", world.HOME)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    return driver.run(world.build(name, seed, days, tick_seconds), seed)


def soak(
    names: list[str], seed: int, days: int, tick_seconds: int, workers: int
) -> list[driver.Result]:
    args = [(n, seed + i, days, tick_seconds) for i, n in enumerate(names)]
    if workers <= 1:
        return [one(*a) for a in args]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(one, *a): a[0] for a in args}
        for future in as_completed(futures):
            r = future.result()
            print(f"  {r.name}: {r.runs} runs in {r.seconds:.0f} s", file=sys.stderr, flush=True)
        return [f.result() for f in futures]


def summary(results: list[driver.Result]) -> str:
    runs = sum(r.runs for r in results)
    findings = sum(r.issues for r in results)
    mismatches = sum(sum(m[3] for m in r.mismatches) for r in results)
    billed = sum(r.billed for r in results)
    minimum = sum(r.minimum for r in results)
    return (
        f"soak: {runs} runs, {findings} findings, mismatches {mismatches}, "
        f"billed imports {billed} (minimum {minimum})"
    )


def table(results: list[driver.Result]) -> list[str]:
    lines = [
        f"{'scenario':<16} {'runs':>5} {'findings':>8} {'held':>5} {'mismatches':>10} "
        f"{'billed':>7} {'minimum':>7} {'ratio':>6} {'denied':>6} {'seconds':>7}  faults"
    ]
    for r in results:
        ratio = r.billed / r.minimum if r.minimum else 1.0
        faults = ", ".join(f"{k} {v}" for k, v in sorted(r.faults.items())) or "-"
        lines.append(
            f"{r.name:<16} {r.runs:>5} {r.issues:>8} {r.held:>5} "
            f"{sum(m[3] for m in r.mismatches):>10} {r.billed:>7} {r.minimum:>7} "
            f"{ratio:>6.3f} {r.denied:>6} {r.seconds:>7.1f}  {faults}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--tick-hours", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--scenario", action="append", choices=sorted(world.SCENARIOS))
    parser.add_argument("--show", type=int, default=10, help="mismatches listed per scenario")
    args = parser.parse_args(argv)
    names = args.scenario or list(world.SCENARIOS)
    results = soak(names, args.seed, args.days, int(args.tick_hours * 3600), args.workers)
    for line in table(results):
        print(line)
    for r in results:
        for place, what, observable, count in r.mismatches[: args.show]:
            print(f"  {r.name}: {what} x{count} at {place}: {observable}")
    print(summary(results))
    ok = all(not r.mismatches and r.billed <= 1.05 * r.minimum for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
