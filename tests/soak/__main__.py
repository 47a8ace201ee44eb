"""`make soak`: every scenario of a simulated month through the real template, checked by
the oracle. Usage: python -m tests.soak [--days N] [--tick-hours H] [--workers W]
[--scenario NAME ...] [--seed S]. Prints a table and, last, the summary line."""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

STARTED = time.monotonic()  # before the imports below, which take seconds of their own

from tests.soak import driver, world  # noqa: E402


def one(name: str, seed: int, days: int, tick_seconds: int) -> driver.Result:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", world.HOME)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    return driver.run(world.build(name, seed, days, tick_seconds), seed)


# The scenarios' relative CPU time in a month (measured): the longest start first, so
# that the workers finish together rather than one running the last long scenario alone.
COST = {"unsubscribed": 9, "product-switch": 8, "faults": 8, "regions": 7}


def soak(
    names: list[str], seed: int, days: int, tick_seconds: int, workers: int
) -> list[driver.Result]:
    args = [(n, seed + i, days, tick_seconds) for i, n in enumerate(names)]
    if workers <= 1:
        return [one(*a) for a in args]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        longest_first = sorted(args, key=lambda a: -COST.get(a[0], 5))
        futures = {a[0]: pool.submit(one, *a) for a in longest_first}
        for future in as_completed(futures.values()):
            r = future.result()
            print(f"  {r.name}: {r.runs} runs in {r.seconds:.0f} s", file=sys.stderr, flush=True)
        return [futures[n].result() for n, *_ in args]


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


def _load() -> str:
    """The 1, 5 and 15 minute load averages: other jobs on the cores stretch the wall time."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--tick-hours", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--scenario", action="append", choices=sorted(world.SCENARIOS))
    parser.add_argument("--show", type=int, default=10, help="mismatches listed per scenario")
    args = parser.parse_args(argv)
    names = list(dict.fromkeys(args.scenario or world.SCENARIOS))
    load_before = _load()
    results = soak(names, args.seed, args.days, int(args.tick_hours * 3600), args.workers)
    for line in table(results):
        print(line)
    for r in results:
        for place, what, observable, count in r.mismatches[: args.show]:
            print(f"  {r.name}: {what} x{count} at {place}: {observable}")
    print(
        f"wall time {time.monotonic() - STARTED:.0f} s with {args.workers} workers on "
        f"{os.cpu_count()} cores; load average {load_before} at the start, {_load()} at the end"
    )
    print(summary(results))
    # Billed below the minimum means the oracle's lower bound or the billing count is wrong.
    ok = all(not r.mismatches and r.minimum <= r.billed <= 1.05 * r.minimum for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
