"""Running the selected scenarios and writing what they measured: `results.json` and a table
(printed, and written next to the JSON as `.md`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mc_pipelines.bench.charts import write_charts
from mc_pipelines.bench.environment import (
    LATENCY_MS,
    MAX_CONNECTIONS,
    PER_MEMBER_MS,
    BenchEnvironment,
)
from mc_pipelines.bench.machine import load_average, machine_info, uptime
from mc_pipelines.bench.scenarios import (
    FULL_SIZES,
    QUICK_SIZES,
    SCENARIOS,
    BenchContext,
    ScenarioResult,
    run_scenario,
)

TARGETS = {
    "per_member_baseline": "batched ≥ 50x the per-member loop's contacts/s (naive batching beside)",
    "api_bound": "API phase ≤ 1.10 x the latency bound (/batches route beside)",
    "initial_load_1m": "≤ 60 s, ≤ 1.5 GB, API phase ≤ 1.15 x its latency bound",
    "incremental_1m": "≤ 10 s, ≤ 1 GB, write calls = minimal 500-row calls",
    "noop_resync": "≤ 6 s, 0 write calls",
    "cost_growth": "wall and peak RSS per size x changed fraction; 0 writes when nothing changed",
    "validation_1m": "≤ 3 s",
    "io_manager_1m": "the IO manager's Arrow files no slower than pickle (write + read, 1M rows)",
}


def run_bench(names: Iterable[str] | None = None, *, quick: bool = False,
              sizes: dict[str, int] | None = None, profile_dir: Path | None = None,
              log: Callable[[str], None] = print,
              progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run the scenarios (all, in the canonical order, by default) in one environment; the
    report as a dict (see `bench/README.md` for its shape). `progress` gets the report so far
    after each scenario (a long run interrupted still leaves its figures)."""
    selected = [n for n in SCENARIOS if names is None or n in set(names)]
    unknown = sorted(set(names or ()) - set(SCENARIOS))
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    chosen_sizes = {**(QUICK_SIZES if quick else FULL_SIZES), **(sizes or {})}
    started = time.perf_counter()
    started_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    machine = machine_info()
    machine["uptime"] = uptime()
    results: dict[str, ScenarioResult] = {}
    latency = {"latency_ms": LATENCY_MS, "per_member_ms": PER_MEMBER_MS, "max_connections": MAX_CONNECTIONS}

    def report() -> dict[str, Any]:
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
            "uptime_after": uptime(),
            "emulator": {"mode": "process", **latency},
            "targets": {n: TARGETS[n] for n in selected},
            "all_met": all(r.met for r in results.values()) and len(results) == len(selected),
            "scenarios": {n: r.as_dict() for n, r in results.items()},
        }

    with BenchEnvironment() as env:
        ctx = BenchContext(env, chosen_sizes, quick=quick, log=log, profile_dir=profile_dir)
        log(f"bench: {', '.join(selected)} ({'quick' if quick else 'full'} sizes) on "
            f"{machine['cores_logical']} cores, {machine['memory_gb']} GB; load {load_average()}")
        for name in selected:
            log(f"- {name} (N = {chosen_sizes.get(name, chosen_sizes['incremental_1m']):,}) … "
                f"[{uptime()}]")
            result = run_scenario(ctx, name)
            results[name] = result
            status = "error: " + result.error if result.error else ("met" if result.met else "NOT met")
            log(f"  {status} in {result.seconds:.0f} s: " + "; ".join(
                f"{c.name} {_fmt(c.value)} {c.unit} (target {c.op} {_fmt(c.target)} {c.unit})"
                for c in result.checks))
            if progress is not None:
                progress(report())
    return report()


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
        f"{m['load_average']} at start, {report['load_average_after']} at the end "
        f"(`uptime`: {m.get('uptime')!r} → {report.get('uptime_after')!r}). Python "
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
    if (s := sc.get("api_bound")) and not s["error"] and (b := s["details"].get("batches_route")):
        out.append(f"- /batches route, same {b['contacts']:,} creates as {b['operations']} batch-subscribe "
                   f"operations: {b['seconds']} s vs bound {b['bound_seconds']} s ({b['ratio']}x); "
                   f"direct: {s['details']['api_phase_seconds']} s.")
    if (s := sc.get("per_member_baseline")) and not s["error"] and (nb := s["details"].get("naive_batching")):
        out.append(f"- naive batching (batch subscribe 500, update_existing, sequential): "
                   f"{nb['contacts_per_second']:,} contacts/s ({nb['seconds']} s).")
    if (s := sc.get("initial_load_1m")) and not s["error"]:
        d, run = s["details"], s["details"]["run"]
        out.append(f"- initial_load_1m: {d['api']['members']:,} created in {d['api']['calls']} calls; API "
                   f"phase {d['api']['api_phase_seconds']} s vs bound {d['api']['bound_seconds']} s; "
                   f"steps {run['steps_seconds']}; CPU {run['cpu_seconds']} s.")
    if (s := sc.get("cost_growth")) and s["details"].get("cells"):
        out.append("")
        out.append("| contacts | changed | wall s | peak RSS MB | write calls |")
        out.append("|---:|---:|---:|---:|---:|")
        for c in sorted(s["details"]["cells"], key=lambda c: (c["contacts"], c["fraction"])):
            out.append(f"| {c['contacts']:,} | {c['fraction']:.1%} | {c['wall_seconds']:.1f} | "
                       f"{c['peak_rss_mb']:,} | {c['write_calls']} |")
        out.append("")
    if (s := sc.get("noop_resync")) and not s["error"]:
        run = s["details"]["run"]
        out.append(f"- noop_resync: {run['wall_seconds']} s, {run['mailchimp_calls']} calls "
                   f"(reads only), peak RSS {run['peak_rss_mb']} MB.")
    return out


def write_report(report: dict[str, Any], out: Path, *, charts: bool = True) -> tuple[Path, Path]:
    """`out` (JSON), the table next to it (`.md`) and, with `charts`, the PNG charts."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md = out.with_suffix(".md")
    pngs = write_charts(report, out.parent) if charts else []
    if pngs:
        report["charts"] = [p.name for p in pngs]
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    text = table(report)
    if pngs:
        text += "\n" + "\n".join(f"![{p.stem}]({p.name})" for p in pngs) + "\n"
    md.write_text(text, encoding="utf-8")
    return out, md
