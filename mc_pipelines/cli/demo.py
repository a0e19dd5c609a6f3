"""`demo`: the main job on embedded parts."""

from __future__ import annotations

import argparse


def cmd_demo(_args: argparse.Namespace) -> int:
    """Run the demo end to end."""
    from mc_pipelines.demo.run import run_demo

    return run_demo()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands."""
    p = subparsers.add_parser("demo", help="seed, start the emulator, sync every demo org, print a summary")
    p.set_defaults(handler=cmd_demo)
