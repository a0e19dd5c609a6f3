"""PNG charts of a bench report, written next to results.md (matplotlib: the `bench` extra).

- `chart_peers.png`: contacts per second for the same change — the per-member SDK loop, the
  naive sequential batch subscribe, this project (log scale);
- `chart_growth.png`: wall time and peak RSS of the incremental run against the org's size, one
  line per changed fraction (0 = the no-change re-sync);
- `chart_api_bound.png`: API phase beside its latency bound (api_bound direct and `/batches`,
  the initial load).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_charts(report: dict[str, Any], folder: Path) -> list[Path]:
    """The charts the report has data for; their paths (none when matplotlib is missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    scenarios = report["scenarios"]
    written = []
    for name, draw in (("chart_peers.png", _peers), ("chart_growth.png", _growth),
                       ("chart_api_bound.png", _api_bound)):
        fig = draw(plt, scenarios)
        if fig is not None:
            path = folder / name
            fig.savefig(path, dpi=100, bbox_inches="tight")
            plt.close(fig)
            written.append(path)
    return written


def _peers(plt, scenarios: dict[str, Any]):
    sc = scenarios.get("per_member_baseline")
    if not sc or sc["error"]:
        return None
    d = sc["details"]
    labels = ["per-member loop\n(official SDK)", "batch subscribe 500,\nsequential (naive)",
              "this project\n(audience_sync step)"]
    values = [d["per_member"]["contacts_per_second"], d["naive_batching"]["contacts_per_second"],
              d["batched"]["contacts_per_second"]]
    fig, ax = plt.subplots(figsize=(7, 4))
    bars = ax.bar(labels, values, color=["#999999", "#6b8fb3", "#2a7f3f"])
    ax.set_yscale("log")
    ax.set_ylabel("contacts / s (log)")
    ax.set_title(f"Same change of {d['contacts']:,} new contacts")
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(f"{value:,.0f}", (bar.get_x() + bar.get_width() / 2, value), ha="center",
                    va="bottom")
    return fig


def _growth(plt, scenarios: dict[str, Any]):
    sc = scenarios.get("cost_growth")
    if not sc or not sc["details"].get("cells"):
        return None
    cells = sc["details"]["cells"]
    fig, (wall, mem) = plt.subplots(1, 2, figsize=(11, 4))
    for fraction in sorted({c["fraction"] for c in cells}):
        row = sorted((c for c in cells if c["fraction"] == fraction), key=lambda c: c["contacts"])
        label = "no change" if fraction == 0 else f"{fraction:.1%} changed"
        wall.plot([c["contacts"] for c in row], [c["wall_seconds"] for c in row], marker="o", label=label)
        mem.plot([c["contacts"] for c in row], [c["peak_rss_mb"] for c in row], marker="o", label=label)
    for ax, title, unit in ((wall, "wall time of the run", "s"), (mem, "peak RSS of the run", "MB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("contacts in the org (log)")
        ax.set_ylabel(f"{unit} (log)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    return fig


def _api_bound(plt, scenarios: dict[str, Any]):
    bars: list[tuple[str, float, float]] = []
    api = scenarios.get("api_bound")
    if api and not api["error"]:
        d = api["details"]
        bars.append((f"api_bound direct\n{d['contacts']:,}", d["api_phase_seconds"], d["bound_seconds"]))
        if b := d.get("batches_route"):
            bars.append((f"api_bound /batches\n{b['contacts']:,}", b["seconds"], b["bound_seconds"]))
    init = scenarios.get("initial_load_1m")
    if init and init["details"].get("api"):
        a = init["details"]["api"]
        bars.append((f"initial load\n{a['members']:,}", a["api_phase_seconds"], a["bound_seconds"]))
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = range(len(bars))
    ax.bar([x - 0.2 for x in xs], [b[1] for b in bars], width=0.4, label="measured API phase")
    ax.bar([x + 0.2 for x in xs], [b[2] for b in bars], width=0.4, label="latency bound", color="#bbbbbb")
    for x, (_, measured, bound) in zip(xs, bars, strict=True):
        if bound:
            ax.annotate(f"{measured / bound:.2f}x", (x - 0.2, measured), ha="center", va="bottom")
    ax.set_xticks(list(xs), [b[0] for b in bars])
    ax.set_ylabel("seconds")
    ax.set_title("API phase vs Σ(40 ms + 0.2 ms x members) / 10")
    ax.legend()
    return fig
