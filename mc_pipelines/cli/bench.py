"""`bench`: speed, scale and memory measured on this machine (SPEC §6; see bench/README.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mc_pipelines.bench import SCENARIO_NAMES
from mc_pipelines.cli.base import OperatorError

DEFAULT_OUT = Path("bench/results.json")


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the scenarios, print the table, write the JSON report (and its .md table).

    Exit code 0 when every figure meets its target, 1 when one does not (the report is written
    either way), 2 when the benchmark could not run. `--quick` runs sizes below those the
    targets are defined for: it exits 0 unless a scenario broke."""
    from mc_pipelines.bench.environment import BenchSetupError
    from mc_pipelines.bench.report import run_bench, table, write_report

    names = args.scenario or None
    try:
        report = run_bench(names, quick=args.quick,
                           profile_dir=Path(args.profile) if args.profile else None)
    except BenchSetupError as exc:
        raise OperatorError(str(exc)) from None
    out, md = write_report(report, Path(args.out))
    print()
    print(table(report))
    print(f"written: {out}, {md}")
    if args.quick:
        return 1 if any(sc["error"] for sc in report["scenarios"].values()) else 0
    return 0 if report["all_met"] else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands."""
    p = subparsers.add_parser(
        "bench", help="benchmarks against the emulator: speed, scale, memory → bench/results.json",
        description="Runs the benchmark scenarios (PostgreSQL database created and dropped, the "
        "Mailchimp emulator in its own process) and writes bench/results.json plus a table.",
    )
    p.add_argument("--scenario", action="append", choices=list(SCENARIO_NAMES), metavar="NAME",
                   help=f"run only this scenario (repeatable): {', '.join(SCENARIO_NAMES)}")
    p.add_argument("--quick", action="store_true",
                   help="small sizes: a smoke run of the machinery in about a minute")
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"JSON report path (default {DEFAULT_OUT})")
    p.add_argument("--profile", metavar="DIR",
                   help="record incremental_1m's measured run with py-spy (pip install py-spy) into "
                        "DIR/incremental_1m.speedscope.json (sampling slows the run a little)")
    p.set_defaults(handler=cmd_bench)
