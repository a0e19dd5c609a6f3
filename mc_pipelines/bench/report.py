"""Running the selected scenarios and writing what they measured: `results.json` and a table
(printed, and written next to the JSON as `.md`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mc_pipelines.bench.environment import MAX_CONNECTIONS, BenchEnvironment
from mc_pipelines.bench.machine import load_average, machine_info
from mc_pipelines.bench.scenarios import (
    FULL_SIZES,
    QUICK_SIZES,
    SCENARIOS,
    BenchContext,
    ScenarioResult,
    run_scenario,
)

TARGETS = {
    "per_member_baseline": "batched ≥ 50x the per-member loop's contacts/s",
    "api_bound": "API phase ≤ 1.25 x the latency bound",
    "incremental_1m": "≤ 30 s, ≤ 2 GB, write calls = minimal 500-row calls",
    "noop_resync": "0 write calls",
    "validation_1m": "≤ 3 s",
}


def run_bench(names: Iterable[str] | None = None, *, quick: bool = False,
              sizes: dict[str, int] | None = None, profile_dir: Path | None = None,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the scenarios (all, in the canonical order, by default) in one environment; the
    report as a dict (see `bench/README.md` for its shape)."""
    selected = [n for n in SCENARIOS if names is None or n in set(names)]
    unknown = sorted(set(names or ()) - set(SCENARIOS))
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    chosen_sizes = {**(QUICK_SIZES if quick else FULL_SIZES), **(sizes or {})}
    started = time.perf_counter()
    started_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    machine = machine_info()
    results: dict[str, ScenarioResult] = {}
    with BenchEnvironment() as env:
        ctx = BenchContext(env, chosen_sizes, quick=quick, log=log, profile_dir=profile_dir)
        log(f"bench: {', '.join(selected)} ({'quick' if quick else 'full'} sizes) on "
            f"{machine['cores_logical']} cores, {machine['memory_gb']} GB; load {load_average()}")
        for name in selected:
            log(f"- {name} (N = {chosen_sizes.get(name, chosen_sizes['incremental_1m']):,}) …")
            result = run_scenario(ctx, name)
            results[name] = result
            status = "error: " + result.error if result.error else ("met" if result.met else "NOT met")
            log(f"  {status} in {result.seconds:.0f} s: " + "; ".join(
                f"{c.name} {_fmt(c.value)} {c.unit} (target {c.op} {_fmt(c.target)} {c.unit})"
                for c in result.checks))
        latency = {"latency_ms": env.latency_ms, "per_member_ms": env.per_member_ms,
                   "max_connections": MAX_CONNECTIONS}
    return {
        "generated_at": started_at,
        "command": "mc-pipelines bench" + (" --quick" if quick else "")
                   + "".join(f" --scenario {n}" for n in selected if names is not None),
        "quick": quick,
        "profiled": profile_dir is not None,
        "sizes": {n: chosen_sizes[n] for n in chosen_sizes if n in selected},
        "duration_seconds": round(time.perf_counter() - started, 1),
        "machine": machine,
        "load_average_after": load_average(),
        "emulator": {"mode": "process", **latency},
        "targets": {n: TARGETS[n] for n in selected},
        "all_met": all(r.met for r in results.values()),
        "scenarios": {n: r.as_dict() for n, r in results.items()},
    }


def _fmt(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"
    return f"{int(value):,}"


def table(report: dict[str, Any]) -> str:
    """The figures as a markdown table, with the machine and versions."""
    m = report["machine"]
    v = m["versions"]
    lines = [
        f"Benchmark run {report['generated_at']} — `{report['command']}` — "
        f"{report['duration_seconds']:.0f} s",
        "",
        f"Machine: {m['cores_logical']} cores ({m['cpu']}), {m['memory_gb']} GB; load average "
        f"{m['load_average']} at start, {report['load_average_after']} at the end. Python "
        f"{m['python']}, dagster {v.get('dagster')}, pandas {v.get('pandas')}, pandera "
        f"{v.get('pandera')}. Emulator in its own process: {report['emulator']['latency_ms']:g} ms "
        f"per call + {report['emulator']['per_member_ms']:g} ms per member of a bulk call, "
        f"{report['emulator']['max_connections']} connections.",
        *(["", "Quick run: sizes below those the targets are defined for (a smoke run of the "
               "machinery; the figures are real but not comparable to the targets)."]
          if report["quick"] else []),
        "",
        "| scenario | N | figure | value | target | met |",
        "|---|---:|---|---:|---:|:---:|",
    ]
    for name, sc in report["scenarios"].items():
        if sc["error"]:
            lines.append(f"| {name} | {sc['size']:,} | error | {sc['error'][:80]} | | ✗ |")
        for check in sc["checks"]:
            unit = check["unit"]
            lines.append(
                f"| {name} | {sc['size']:,} | {check['name']} | {_fmt(check['value'])} {unit} | "
                f"{check['op']} {_fmt(check['target'])} {unit} | {'✓' if check['met'] else '✗'} |"
            )
    lines += ["", *_highlights(report)]
    return "\n".join(lines) + "\n"


def _highlights(report: dict[str, Any]) -> list[str]:
    out = []
    sc = report["scenarios"]
    if (s := sc.get("per_member_baseline")) and not s["error"]:
        d = s["details"]
        out.append(f"- per-member loop {d['per_member']['contacts_per_second']:,} contacts/s "
                   f"({d['per_member']['seconds']} s for {d['contacts']:,}); audience sync "
                   f"{d['batched']['contacts_per_second']:,} contacts/s "
                   f"({d['batched']['audience_sync_step_seconds']} s step, "
                   f"{d['batched']['write_calls']} write calls); whole graph "
                   f"{d['batched']['whole_graph_seconds']} s ({d['batched']['whole_graph_ratio']}x).")
    if (s := sc.get("api_bound")) and not s["error"]:
        d = s["details"]
        out.append(f"- api_bound: {d['calls']} calls, API phase {d['api_phase_seconds']} s vs bound "
                   f"{d['bound_seconds']} s; push {d['push_seconds']} s in all; CPU during the push: "
                   f"this process {d['cpu_seconds_during_push']['this_process']} s, emulator "
                   f"{d['cpu_seconds_during_push']['emulator']} s; retries {d['retries']}.")
    if (s := sc.get("incremental_1m")) and not s["error"]:
        d = s["details"]
        run = d["run"]
        out.append(f"- incremental_1m: changes {d['changes']}; plan {d['expected_plan']}; "
                   f"{run['mailchimp_write_calls']} write calls (minimal {d['minimal_write_calls']}), "
                   f"{run['mailchimp_calls']} calls in all; CPU {run['cpu_seconds']} s; steps "
                   f"{run['steps_seconds']}; emulator RSS {run['emulator_peak_rss_mb']} MB (not "
                   f"counted).")
    if (s := sc.get("noop_resync")) and not s["error"]:
        run = s["details"]["run"]
        out.append(f"- noop_resync: {run['wall_seconds']} s, {run['mailchimp_calls']} calls "
                   f"(reads only), peak RSS {run['peak_rss_mb']} MB.")
    return out


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """`out` (JSON) and the table next to it (`.md`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md = out.with_suffix(".md")
    md.write_text(table(report), encoding="utf-8")
    return out, md
