"""`bench`: speed, scale and memory measured on this machine (see bench/README.md)."""

from __future__ import annotations

from pathlib import Path

import click

from mc_pipelines.bench import SCENARIO_NAMES

DEFAULT_OUT = Path("bench/results.json")


@click.command(
    "bench", short_help="benchmarks against the emulator: speed, scale, memory → bench/results.json",
    help="Runs the benchmark scenarios (PostgreSQL database created and dropped, the Mailchimp "
    "emulator in its own process) and writes bench/results.json plus a table.")
@click.option("--scenario", multiple=True, type=click.Choice(list(SCENARIO_NAMES)), metavar="NAME",
              help=f"run only this scenario (repeatable): {', '.join(SCENARIO_NAMES)}")
@click.option("--quick", is_flag=True, help="small sizes: a smoke run of the machinery in about a minute")
@click.option("--out", default=str(DEFAULT_OUT), help=f"JSON report path (default {DEFAULT_OUT})")
@click.option("--profile", metavar="DIR",
              help="record the measured runs of initial_load_1m, incremental_1m and noop_resync "
                   "with py-spy into DIR/<scenario>.speedscope.json (sampling slows the runs a "
                   "little)")
def cmd_bench(scenario: tuple[str, ...], quick: bool, out: str, profile: str | None) -> int:
    """Run the scenarios, print the table, write the JSON report (and its .md table).

    Exit code 0 when every figure meets its target, 1 when one does not (the report is written
    either way), 2 when the benchmark could not run (`BenchSetupError`, a `FixableError`).
    `--quick` runs sizes below those the targets are defined for: it exits 0 unless a scenario
    broke."""
    from mc_pipelines.bench.report import run_bench, table, write_report

    report = run_bench(list(scenario) or None, quick=quick,
                       profile_dir=Path(profile) if profile else None,
                       progress=lambda partial: write_report(partial, Path(out), charts=False))
    json_path, md = write_report(report, Path(out))
    print()
    print(table(report))
    print(f"written: {json_path}, {md}")
    if quick:
        return 1 if any(sc["error"] for sc in report["scenarios"].values()) else 0
    return 0 if report["all_met"] else 1


COMMANDS = [cmd_bench]
