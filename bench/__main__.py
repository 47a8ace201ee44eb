"""`make bench`: figures as ratios against a baseline or a limit measured in the same run.

Machines are noisy, so no figure here is an absolute time on its own: CPU costs are shown
next to the cost of `json.dumps` of the same findings (what any integration pays to send
them), call counts next to the lower bound max(ceil(n/100), ceil(bytes/budget)) and to
naive chunking by 100, throughput next to Security Hub's limit, cold start next to a bare
boto3 handler, memory next to a process that only imports the same modules and next to the
function's configured memory, cost next to the Security Hub ingestion it causes.
Sections: packing, CPU, collector, startup (bench/startup.py), throughput
(bench/throughput.py), memory (bench/memory.py), cost (bench/cost.py), latency
(bench/latency.py); each module's docstring says how its figures are made. Results go to
bench/results.json (not committed), the plots to bench/throughput.png and bench/latency.png.

The nine headline figures of issue 14 (bench/headline.py) come last, each beside its
same-run baseline and its goal, and go to results.json under `headline`.

Usage: python -m bench [--quick] [--only SECTION,...] [--instructions] [--out FOLDER]
(make bench: about 2.5 minutes on 2 cores; ARGS=--quick: a smaller run; ARGS=--only=calls,cpu: those
sections alone, written to bench/results-only.json; ARGS="--only=startup --instructions": the
cold starts with callgrind's instruction counts beside the CPU times)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import calls, collector, cost, headline, latency, memory, plots, startup, throughput
from hubrelay import asff, message
from hubrelay.gathering import gather
from hubrelay.importer import plan_calls
from hubrelay.packing import Sized, lower_bound, pack
from hubrelay.quarantine import Quarantine
from hubrelay.settings import DEFAULT_BATCH_BYTE_BUDGET, MAX_FINDING_BYTES, Settings
from hubrelay_emulator import samples

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

    # Serialization: the queue message bodies (json.dumps of each finding inside).
    serialize = _per_finding(lambda: list(message.pack_messages(findings)), count)
    bodies = list(message.pack_messages(findings))
    # Packing into calls, as the importer does it: over the items it read off the bodies,
    # each with the size its message gave (hubrelay.message.read_texts).
    items, _ = gather(
        ((f"m{i}", b) for i, b in enumerate(bodies)), MAX_FINDING_BYTES, Quarantine(2**20)
    )
    packing_us = _per_finding(lambda: plan_calls(items, Settings()), count)
    decode = _per_finding(lambda: [message.decode(b) for b in bodies], count)
    return {
        "findings": count,
        "baseline_json_dumps_us": round(baseline, 1),
        "validate_us": round(validate, 1),
        "validate_per_baseline": round(validate / baseline, 2),
        "pack_us": round(packing_us, 1),
        "pack_per_baseline": round(packing_us / baseline, 2),
        "serialize_us": round(serialize, 1),
        "serialize_per_baseline": round(serialize / baseline, 2),
        "decode_us": round(decode, 1),
        "decode_per_baseline": round(decode / baseline, 2),
        # The headline's cpu_us_per_finding (map + validate + pack per native record of
        # the sources' samples), here so that --only=cpu measures it without the resend.
        "per_record": collector.cpu_per_record(50),
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
        f"  serializing  {c['serialize_us']:>8} us  = {c['serialize_per_baseline']}x baseline"
        "  (queue message bodies)",
        f"  decoding     {c['decode_us']:>8} us  = {c['decode_per_baseline']}x baseline"
        "  (message.decode)",
    ]
    return "\n".join(lines)


def render_startup(st: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Cold start (fresh interpreter, best of {st['repeat']}): import + first request of a "
        "typical event less a warm one, against a bare handler that imports boto3, makes its "
        f"client and sends one finding ({st['bare_boto3_handler_ms']} ms = import "
        f"{st['bare_import_ms']} + first {st['bare_first_request_ms']} - warm "
        f"{st['bare_warm_request_ms']}):",
    ]
    for row in st["handlers"]:
        heavy = ", ".join(f"{h['package']} {h['ms']} ms" for h in row["heaviest"])
        lines.append(
            f"  {row['handler']:28} {row['cold_start_ms']:>7} ms = {row['per_bare_boto3']}x  "
            f"(import {row['import_ms']}, first {row['first_request_ms']}, warm "
            f"{row['warm_request_ms']}; self time: {heavy})"
        )
    if "bare_instructions" in st:
        bare = st["bare_instructions"]
        lines.append(
            "Instructions (callgrind, one run each, millions; import + first - warm): bare "
            f"{bare['cold_start_m']} = {bare['import_m']} + {bare['first_request_m']} - "
            f"{bare['warm_request_m']}"
        )
        for row in st["handlers"]:
            n = row["instructions"]
            lines.append(
                f"  {row['handler']:28} {n['cold_start_m']:>7} M = {n['per_bare_boto3']}x  "
                f"(import {n['import_m']}, first {n['first_request_m']}, warm "
                f"{n['warm_request_m']})"
            )
    return lines


def render_more(results: dict[str, Any]) -> str:
    """The sections after packing, CPU and the collector."""
    lines = render_startup(results["startup"])
    lines += _render_throughput(results["throughput"])
    lines += _render_memory(results["memory"])
    lines += _render_cost(results["cost"])
    lines += _render_latency(results["latency"])
    return "\n".join(lines)


def _render_throughput(tp: dict[str, Any]) -> list[str]:
    """The offered load and the accounts scaling."""
    lines = [
        "",
        "Throughput through the local stack, Security Hub limited to 10 calls/s, burst 30, "
        "per account and Region",
        "(importer clock = importer CPU in-process + simulated backoff and idle time; "
        "bucket empty at start; ceiling 1,000 findings/s):",
        f"  {'offered/s':>9} {'findings':>8} {'imported/s':>10} {'/ceiling':>8} "
        f"{'calls':>6} {'429s':>5} {'retries':>7} {'accepted/bound':>14} {'sleep s':>8} "
        f"{'wall/s':>7}",
    ]
    for r in tp["offered_load"]:
        lines.append(
            f"  {r['offered_per_s']:>9.0f} {r['findings']:>8} {r['findings_per_s']:>10} "
            f"{r['per_ceiling']:>8} {r['calls']:>6} {r['throttled']:>5} {r['retries']:>7} "
            f"{r['accepted_calls_per_lower_bound']:>14} {r['backoff_sleep_seconds']:>8} "
            f"{r['wall_findings_per_s']:>7}"
        )
    lines += [
        "  accounts (one stack each, a backlog each, running in parallel):",
        f"  {'accounts':>9} {'findings':>8} {'imported/s':>10} {'/ceiling':>8} {'calls':>6} "
        f"{'429s':>5} {'slowest account /ceiling':>25}",
    ]
    for r in tp["scaling"]:
        lines.append(
            f"  {r['accounts']:>9} {r['findings']:>8} {r['findings_per_s']:>10.0f} "
            f"{r['per_ceiling']:>8} {r['calls']:>6} {r['throttled']:>5} "
            f"{r['slowest_account_per_ceiling']:>25}"
        )
    return lines


def _render_memory(memory: dict[str, Any]) -> list[str]:
    """Peak memory of each function against its imports alone."""
    lines = [
        "",
        "Peak memory (RSS, fresh subprocess; AWS in a process of its own), against the same "
        "imports alone:",
    ]
    for name, m in memory.items():
        what = (
            f"{m['records']} SQS records ({m['event_mb']} MB of bodies)"
            if name == "importer"
            else f"a {m['report_mb']} MB Trivy report ({m['records']} records)"
        )
        extra = (
            f"; the parsed event alone adds {m['event_over_imports_mb']} MB, the handler "
            f"{m['run_over_event_mb']} MB more; the same records with empty bodies, parsed: "
            f"{m['with_empty_bodies_mb']} MB = {m['empty_bodies_per_baseline']}x the imports"
            if "event_over_imports_mb" in m
            else ""
        )
        if "at_payload_limit" in m:
            lim = m["at_payload_limit"]
            extra += (
                f"; the largest batch Lambda delivers (6 MB payload: {lim['records']} records, "
                f"AWS-sized record keys): peak {lim['peak_mb']} MB = {lim['peak_per_baseline']}x "
                f"(the parsed event adds {lim['event_over_imports_mb']} MB, the handler "
                f"{lim['run_over_event_mb']} MB more)"
            )
        lines.append(
            f"  {name:9} on {what}: peak {m['peak_mb']} MB = {m['peak_per_baseline']}x the "
            f"imports alone ({m['baseline_imports_mb']} MB), {m['peak_per_function_memory']}x "
            f"its {m['function_memory_mb']} MB; the run adds {m['run_over_imports_mb']} MB to "
            f"the imports{extra}"
        )
    return lines


def _render_cost(costs: dict[str, Any]) -> list[str]:
    """Cost per million findings, an unchanged month, the vendor API's schedule."""
    c, month = costs["per_million"], costs["unchanged_month"]
    lines = [
        "",
        f"Cost per million findings imported (us-east-1 list prices of {cost.PRICE_DATE}, "
        "in bench/cost.py; prices change):",
    ]
    for item, usd in c["lines_usd"].items():
        lines.append(f"  {item:56} ${usd:>9.4f}")
    lines += [
        f"  {'hubrelay total':56} ${c['hubrelay_usd']:>9.4f}  = {c['hubrelay_per_ingestion']:.2%}"
        f" of the Security Hub ingestion it causes (${c['securityhub_ingestion_usd']:.2f})",
        f"  (each 100 ms of Security Hub latency per call adds "
        f"${c['per_100ms_securityhub_latency_usd']:.4f} of importer time)",
        f"  source re-reporting {month['findings']} unchanged findings every 5 minutes for a "
        f"month: naive resend {month['naive_ingestion_events']:,} ingestion events "
        f"(${month['naive_ingestion_usd']:,.2f}); hubrelay {month['hubrelay_ingestion_events']:,}"
        f" (renewals, ${month['hubrelay_ingestion_usd']:.2f}) + its own "
        f"${month['hubrelay_own_usd']:.2f}",
    ]
    vendor = costs.get("vendor_api_schedule")
    if vendor:
        now, before = vendor["usd_per_month"], vendor["usd_per_month_at_5_minutes"]
        lines.append(
            f"  vendor API polled every minute ({vendor['runs_per_month']:,} runs a month, "
            f"{vendor['idle_run_s']} s each when idle): ${now['total']:.2f} a month "
            f"(Scheduler ${now['EventBridge Scheduler']:.2f}, Lambda "
            f"${now['Lambda requests'] + now['Lambda GB-s']:.2f}, Secrets Manager "
            f"${now['Secrets Manager']:.2f}); every 5 minutes: ${before['total']:.2f}"
        )
    return lines


def _render_latency(lat: dict[str, Any]) -> list[str]:
    """Latency from the source to Security Hub, per configuration."""
    assumed = lat.get("assumed", {})
    lines = [
        "",
        "Latency from appearance at the source to import (simulated hour, model in "
        "bench/latency.py; EventBridge delivery assumed "
        f"{assumed.get('eventbridge_delivery_base_s')} s + exponential tail of mean "
        f"{assumed.get('eventbridge_delivery_tail_mean_s')} s, "
        f"{assumed.get('findings_per_report')} findings per report):",
    ]
    lines.append(f"  {'configuration':40} {'load/s':>6} {'p50':>7} {'p90':>7} {'p99':>7}")
    for r in lat["rows"]:
        lines.append(
            f"  {r['config']:40} {r['findings_per_s']:>6g} {r['p50_s']:>6}s {r['p90_s']:>6}s "
            f"{r['p99_s']:>6}s"
        )
    return lines


def _importer_cost_inputs(tp: dict[str, Any]) -> dict[str, float]:
    """Per finding, from the one-account backlog at the rate limit (the costlier case:
    the importer also waits out throttling)."""
    one = next(r for r in tp["scaling"] if r["accounts"] == 1)
    return {
        "seconds_per_finding": round(one["importer_duration_s"] / one["findings"], 6),
        "calls_per_finding": round(one["calls"] / one["findings"], 5),
    }


def _idle_run_s(results: dict[str, Any]) -> float:
    """A collector run that finds nothing new, taken as a cold start (the handler's import)
    plus the second, unchanged run over the bench's findings (an upper bound: an idle
    vendor API run maps no page at all)."""
    start = next(r for r in results["startup"]["handlers"] if "collector" in r["handler"])
    unchanged = results["collector"]["unchanged"]["runs"][1]
    return round(float(start["import_ms"]) / 1000 + float(unchanged["cpu_s"]), 3)


def _latency_inputs(results: dict[str, Any]) -> latency.Measured:
    unchanged = results["collector"]["unchanged"]
    start = next(r for r in results["startup"]["handlers"] if "collector" in r["handler"])
    calm = min(results["throughput"]["offered_load"], key=lambda r: r["offered_per_s"])
    controls = next(r for r in results["packing"] if r["mix"].startswith("controls"))
    return latency.Measured(
        collector_start_s=start["cold_start_ms"] / 1000,
        collector_s_per_finding=round(unchanged["runs"][0]["cpu_s"] / unchanged["findings"], 6),
        import_s_per_call=round(calm["importer_duration_seconds"] / calm["calls"], 4),
        finding_bytes=controls["mean_bytes"],
    )


SECTIONS = ("packing", "cpu", "calls", "collector", "startup", "throughput", "memory", "cost")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--findings", type=int, default=2000, help="findings per packing mix")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller runs (less time, noisier figures)",
    )
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated sections to run ({', '.join(SECTIONS)}); cost and latency "
        "need collector, startup and throughput. Written to bench/results-only.json",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="startup: also count each cold start's instructions under valgrind's callgrind "
        "(deterministic, printed beside the CPU times; about 3 minutes more)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for results.json and the plots instead of bench/ (tests/integration/"
        "test_bench.py runs the quick bench there)",
    )
    return parser


def main() -> None:
    parser = _parser()
    args = parser.parse_args()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if unknown := only - set(SECTIONS):
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    wanted = only or set(SECTIONS)
    started = time.perf_counter()

    target = RESULTS.with_name("results-only.json") if only else RESULTS
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        target = args.out / target.name
    results: dict[str, Any] = {"quick": args.quick}

    def step(name: str) -> bool:
        # What is measured so far is kept: a section that fails (or a loaded machine that
        # times one out) does not lose the others.
        target.write_text(json.dumps(results, indent=2) + "\n")
        if name not in wanted:
            return False
        print(f"==> {name} ({time.perf_counter() - started:.0f}s)", file=sys.stderr, flush=True)
        return True

    _measure(results, args, step)
    results["headline"], results["headline_detail"] = headline.compute(results)
    results["seconds"] = round(time.perf_counter() - started, 1)
    target.write_text(json.dumps(results, indent=2) + "\n")
    figures = []
    if not only:
        folder = args.out or plots.THROUGHPUT_PNG.parent
        figures = [
            plots.throughput(results, folder / plots.THROUGHPUT_PNG.name),
            plots.latency(results, folder / plots.LATENCY_PNG.name),
        ]
    _print_results(results, bool(only), [target, *figures])


def _measure(
    results: dict[str, Any], args: argparse.Namespace, step: Callable[[str], bool]
) -> None:
    """Run each section `step` lets through, in order, into `results`."""
    quick = args.quick
    if step("packing"):
        results["packing"] = packing(args.findings)
    if step("cpu"):
        results["cpu"] = cpu(min(args.findings, 1000))
    if step("calls"):
        results["calls"] = calls.run(5_000 if quick else 10_000)
    if step("collector"):
        results["collector"] = collector.run(repeat=50 if quick else 200)
    if step("startup"):
        results["startup"] = startup.run(repeat=2 if quick else 3, instructions=args.instructions)
    if step("throughput"):
        results["throughput"] = throughput.run(quick)
    if step("memory"):
        results["memory"] = memory.run(
            records=2_000 if quick else 10_000, report_mb=10 if quick else 50
        )
    if step("cost") and all(k in results for k in ("collector", "throughput", "startup")):
        results["cost"] = {
            "per_million": cost.per_million(
                _importer_cost_inputs(results["throughput"]), results["collector"]["unchanged"]
            ),
            "unchanged_month": cost.unchanged_month(results["collector"]["unchanged"]),
            "vendor_api_schedule": cost.vendor_schedule(_idle_run_s(results)),
            "prices": cost.PRICES,
        }
        if "packing" in results:
            results["latency"] = latency.run(_latency_inputs(results))


def _print_results(results: dict[str, Any], only: bool, written_to: list[Path]) -> None:
    """The tables of the sections run (all of them, or those of --only), then the headline."""
    if not only:
        print(render(results))
        print(collector.render(results["collector"]))
        print(render_more(results))
    elif "startup" in results:
        print("\n".join(render_startup(results["startup"])))
    if only and "cpu" in results:
        # The rows of the headline's cpu_us_per_finding, each beside json.dumps.
        print("\n".join(collector.render_cpu(results["cpu"]["per_record"])))
    print(render_calls(results.get("calls")))
    print(headline.render(results["headline"], results["headline_detail"]))
    written = ", ".join(str(f) for f in written_to)
    print(f"\nwritten to {written} in {results['seconds']} s")


def render_calls(c: dict[str, Any] | None) -> str:
    if c is None:
        return ""
    return "\n".join(
        [
            "",
            f"Calls through the local stack ({c['findings']} findings, 80/20 mix, "
            f"{c['groups']} accounts, mean {c['mean_bytes']} B; default parameters; "
            f"request limit {c['request_limit_bytes']} B, 100 findings):",
            f"  {'':22} {'calls':>6} {'bound':>6} {'ratio':>6} {'413s':>5}",
            f"  {'hubrelay':22} {c['calls']:>6} {c['lower_bound']:>6} "
            f"{c['calls_over_bound']:>6} {c['refused_413']:>5}"
            f"  ({c['messages']} messages, {c['importer_invocations']} invocations)",
            f"  {'prowler (chunks of 100)':22} {c['prowler_calls']:>6} {c['lower_bound']:>6} "
            f"{c['prowler_calls_over_bound']:>6} {c['prowler_refused_413']:>5}",
        ]
    )


if __name__ == "__main__":
    main()
