"""The nine headline figures of issue 14, each beside its same-run baseline and its goal.

`headline` in bench/results.json holds exactly the nine figures; `headline_detail` holds,
per figure, the baseline it is read against (measured in the same run), the goal and
whether it is met. A figure whose section was not run (`--only`) is None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# key: (goal, "<=" or ">=" or "==", what it is)
GOALS: dict[str, tuple[float, str, str]] = {
    "calls_over_bound": (1.02, "<=", "calls / lower bound, local stack at 6 MB per request"),
    "throughput_ratio": (0.95, ">=", "imported/s over the ceiling, min over 1/5/20 accounts"),
    "latency_p99_s": (60.0, "<=", "p99 source to Security Hub, default configuration"),
    "cold_start_ratio": (1.3, "<=", "worst handler cold start over a bare boto3 handler's"),
    "importer_memory_ratio": (1.5, "<=", "importer peak on 10,000 records over its imports"),
    "collector_memory_ratio": (2.0, "<=", "collector peak on the Trivy report over its imports"),
    "cpu_us_per_finding": (50.0, "<=", "map + validate + pack per finding, realistic mix"),
    "own_cost_ratio": (0.01, "<=", "hubrelay's own cost over the ingestion it causes"),
    "unchanged_reimports": (0, "==", "imports when 10,000 unchanged findings are re-reported"),
}


def _calls(r: dict[str, Any]) -> tuple[float, str]:
    c = r["calls"]
    return c["calls_over_bound"], (
        f"prowler's chunks of 100: {c['prowler_calls_over_bound']} "
        f"({c['prowler_calls']} calls, {c['prowler_refused_413']} refused 413); "
        f"hubrelay {c['calls']} calls, bound {c['lower_bound']}"
    )


def _throughput(r: dict[str, Any]) -> tuple[float, str]:
    rows = r["throughput"]["scaling"]
    worst = min(rows, key=lambda row: row["per_ceiling"])
    return worst["per_ceiling"], (
        f"ceiling 1,000 findings/s per account; worst at {worst['accounts']} account(s): "
        f"{worst['findings_per_s']:.0f} of {worst['ceiling_per_s']:.0f}/s"
    )


def _latency(r: dict[str, Any]) -> tuple[float, str]:
    """The worst p99 of the default event-driven paths (reports in S3, AWS Health events),
    with the polled vendor API (goal 120 s) and the 5-minute schedule beside it."""
    rows = r["latency"]["rows"]

    def worst(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return max(rows, key=lambda x: x["p99_s"])

    events = worst([x for x in rows if x.get("kind") == "events"])
    polled = worst([x for x in rows if x.get("kind") == "polled"])
    before = worst([x for x in rows if x["config"].startswith("events off: schedule 5 min, w")])
    direct = worst([x for x in rows if x["config"].startswith("direct")])
    return events["p99_s"], (
        f"worst {events['config']!r}; polled vendor API (schedule 1 min, goal <= 120 s): "
        f"p99 {polled['p99_s']} s; schedule 5 min without events: p99 {before['p99_s']} s; "
        f"producer straight to the queue: p99 {direct['p99_s']} s"
    )


def _cold(r: dict[str, Any]) -> tuple[float, str]:
    st = r["startup"]
    worst = max(st["handlers"], key=lambda h: h["per_bare_boto3"])
    counted = ""
    if "bare_instructions" in st:
        most = max(st["handlers"], key=lambda h: h["instructions"]["per_bare_boto3"])
        bare_m = st["bare_instructions"]["cold_start_m"]
        counted = (
            f"; in instructions (callgrind) worst {most['handler']} "
            f"{most['instructions']['per_bare_boto3']}x of the bare handler's {bare_m} M"
        )
    return worst["per_bare_boto3"], (
        f"bare boto3 handler {st['bare_boto3_handler_ms']} ms (import + first call less a warm "
        f"one); worst {worst['handler']} {worst['cold_start_ms']} ms{counted}"
    )


def _memory(kind: str) -> Callable[[dict[str, Any]], tuple[float, str]]:
    def figure(r: dict[str, Any]) -> tuple[float, str]:
        m = r["memory"][kind]
        floor = (
            f"; the parsed event alone {m['with_event_mb']} MB = "
            f"{round(m['with_event_mb'] / m['baseline_imports_mb'], 2)}x, with empty bodies "
            f"{m['with_empty_bodies_mb']} MB = {m['empty_bodies_per_baseline']}x (the runtime's "
            "parse of 10,000 records, before any finding)"
            if "with_event_mb" in m
            else ""
        )
        if "at_payload_limit" in m:
            lim = m["at_payload_limit"]
            floor += (
                f"; at Lambda's 6 MB payload limit ({lim['records']} records): peak "
                f"{lim['peak_mb']} MB = {lim['peak_per_baseline']}x"
            )
        return m["peak_per_baseline"], (
            f"imports alone {m['baseline_imports_mb']} MB; peak {m['peak_mb']} MB{floor}"
        )

    return figure


def _cpu(r: dict[str, Any]) -> tuple[float, str]:
    """Per native record of the sources' samples (SARIF, Trivy, Grype, Health, vendor),
    weighted by their records: map + validate + pack into messages and calls."""
    rows = r["cpu"]["per_record"]
    records = sum(x["records"] for x in rows)
    figure = sum(x["map_validate_pack_us"] * x["records"] for x in rows) / records
    mapped = sum(x["map_validate_us"] * x["records"] for x in rows) / records
    dumps = sum(x["json_dumps_us"] * x["records"] for x in rows) / records
    cold = sum(x.get("first_sight_us", 0.0) * x["records"] for x in rows) / records
    former = sum(x.get("with_sizing_dumps_us", 0.0) * x["records"] for x in rows) / records
    return round(figure, 1), (
        f"json.dumps of the native record {dumps:.1f} us (figure = {figure / dumps:.1f}x it); "
        f"of it map + validate {mapped:.1f} us; value caches cold (first sight) {cold:.1f} us; "
        f"with a json.dumps per finding to size it, as until 2026-12-07: {former:.1f} us"
    )


def _cost(r: dict[str, Any]) -> tuple[float, str]:
    c = r["cost"]["per_million"]
    return c["hubrelay_per_ingestion"], (
        f"Security Hub ingestion ${c['securityhub_ingestion_usd']:.2f} per million; "
        f"hubrelay ${c['hubrelay_usd']:.4f}"
    )


def _unchanged(r: dict[str, Any]) -> tuple[float, str]:
    u = r["collector"]["unchanged"]
    return u["second_run_imports"], f"naive resend {u['naive_second_run_imports']}"


FIGURES: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], tuple[float, str]]]] = {
    "calls_over_bound": (("calls",), _calls),
    "throughput_ratio": (("throughput",), _throughput),
    "latency_p99_s": (("latency",), _latency),
    "cold_start_ratio": (("startup",), _cold),
    "importer_memory_ratio": (("memory",), _memory("importer")),
    "collector_memory_ratio": (("memory",), _memory("collector")),
    "cpu_us_per_finding": (("cpu",), _cpu),
    "own_cost_ratio": (("cost",), _cost),
    "unchanged_reimports": (("collector",), _unchanged),
}


def _met(value: float, goal: float, sense: str) -> bool:
    return value <= goal if sense == "<=" else value >= goal if sense == ">=" else value == goal


def compute(results: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(headline, headline_detail) from the sections present in `results`."""
    figures: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    for key, (needs, figure) in FIGURES.items():
        goal, sense, what = GOALS[key]
        value, baseline = figure(results) if all(s in results for s in needs) else (None, "")
        figures[key] = value
        detail[key] = {
            "what": what,
            "goal": f"{sense} {goal:g}",
            "baseline": baseline,
            "met": None if value is None else _met(value, goal, sense),
        }
    return figures, detail


def render(figures: dict[str, Any], detail: dict[str, Any]) -> str:
    lines = ["", "Headline (issue 14): figure, goal, met; the same-run baseline beside it"]
    for key, value in figures.items():
        d = detail[key]
        shown = "not run" if value is None else f"{value:g}"
        met = "" if d["met"] is None else ("met" if d["met"] else "NOT met")
        lines.append(f"  {key:23} {shown:>8}  goal {d['goal']:8} {met:8} {d['baseline']}")
    return "\n".join(lines)
