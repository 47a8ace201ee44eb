"""The two figures of `make bench`, as small PNGs next to this file (committed, linked from
the README): throughput against offered load (and against the number of accounts), and
latency percentiles per configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

HERE = Path(__file__).parent
THROUGHPUT_PNG = HERE / "throughput.png"
LATENCY_PNG = HERE / "latency.png"
DPI = 100


# The measured series of the offered-load plot: row key, line style, colour, label, extras.
SERIES: tuple[tuple[str, str, str, str, dict[str, float]], ...] = (
    ("findings_per_s", "o-", "tab:blue", "hubrelay (importer clock)", {}),
    (
        "wall_findings_per_s",
        "s--",
        "tab:orange",
        "same runs, wall clock (moto-bound)",
        {"ms": 4, "lw": 1},
    ),
)


def throughput(results: dict[str, Any], path: Path = THROUGHPUT_PNG) -> Path:
    data = results["throughput"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    _offered_load(left, data["limit"]["ceiling_findings_per_s"], data["offered_load"])
    _scaling(right, data["scaling"])
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _offered_load(left: Any, ceiling: float, rows: list[dict[str, Any]]) -> None:
    offered = [r["offered_per_s"] for r in rows]
    top = max(offered) * 1.05
    left.plot(
        [0, ceiling, top],
        [0, ceiling, ceiling],
        ":",
        color="grey",
        label="ideal: min(offered, limit)",
    )
    left.axhline(ceiling, color="tab:red", lw=0.8)
    left.text(
        top * 0.02,
        ceiling * 1.03,
        "Security Hub limit: 10 calls/s x 100 = 1,000 findings/s",
        fontsize=8,
        color="tab:red",
    )
    for key, style, color, label, extra in SERIES:
        left.plot(offered, [r[key] for r in rows], style, color=color, label=label, **extra)
    for r in rows:
        if r["throttled"]:
            left.annotate(
                f"{r['throttled']} x 429",
                (r["offered_per_s"], r["findings_per_s"]),
                textcoords="offset points",
                xytext=(4, -12),
                fontsize=7,
                color="tab:blue",
            )
    left.set(
        xlabel="offered load (findings/s, one account)",
        ylabel="imported (findings/s)",
        xlim=(0, top),
        ylim=(0, ceiling * 1.25),
    )
    left.set_title("Throughput against offered load", fontsize=10)
    left.legend(fontsize=7, loc="lower right")
    left.grid(alpha=0.3)


def _scaling(right: Any, scaling: list[dict[str, Any]]) -> None:
    labels = [str(r["accounts"]) for r in scaling]
    xs = range(len(scaling))
    right.bar(
        [x - 0.2 for x in xs],
        [r["ceiling_per_s"] for r in scaling],
        0.4,
        color="lightgrey",
        label="limit (N x 1,000/s)",
    )
    right.bar(
        [x + 0.2 for x in xs],
        [r["findings_per_s"] for r in scaling],
        0.4,
        color="tab:blue",
        label="hubrelay",
    )
    for x, r in zip(xs, scaling, strict=True):
        right.text(
            x + 0.2,
            r["findings_per_s"],
            f"{r['per_ceiling']:.2f}",
            ha="center",
            va="bottom",
            fontsize=7,
        )
    right.set_xticks(list(xs), labels)
    right.set(xlabel="accounts (one stack each, backlog)", ylabel="findings/s")
    right.set_title("Scaling with accounts", fontsize=10)
    right.legend(fontsize=7)
    right.grid(alpha=0.3, axis="y")


def latency(results: dict[str, Any], path: Path = LATENCY_PNG) -> Path:
    rows = results["latency"]["rows"]
    loads = sorted({r.get("load", 0) for r in rows})
    configs = list(dict.fromkeys(r["config"] for r in rows))
    fig, axes = plt.subplots(1, len(loads), figsize=(10, 3.9), sharey=True, squeeze=False)
    bars = (
        ("p50_s", "p50", "tab:blue"),
        ("p90_s", "p90", "tab:cyan"),
        ("p99_s", "p99", "tab:purple"),
    )
    for ax, load in zip(axes[0], loads, strict=True):
        chosen = [
            next(r for r in rows if r["config"] == c and r.get("load", 0) == load) for c in configs
        ]
        rate = max(r["findings_per_s"] for r in chosen)  # AWS Health's rows run at less
        for k, (key, label, color) in enumerate(bars):
            ys = [y + (k - 1) * 0.27 for y in range(len(chosen))]
            values = [r[key] / 60 for r in chosen]
            ax.barh(ys, values, 0.26, color=color, label=label)
            for y, value in zip(ys, values, strict=True):
                ax.text(value, y, f" {value:.1f}", va="center", fontsize=6.5)
        ax.set(xlabel="minutes from appearance at the source to import")
        ax.set_xlim(0, max(r["p99_s"] for r in rows) / 60 * 1.15)
        slower = sorted({r["findings_per_s"] for r in chosen if r["findings_per_s"] < rate})
        note = f" (AWS Health {slower[0]:g}/s)" if slower else ""
        ax.set_title(f"{rate:g} new finding(s)/s at the source{note}\nsimulated hour", fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    axes[0][0].set_yticks(
        range(len(configs)), [c.replace(", ", "\n", 1) for c in configs], fontsize=8
    )
    axes[0][0].invert_yaxis()  # once: the axes share y
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
