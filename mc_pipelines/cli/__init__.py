"""`mc-pipelines`: the operator's command line.

Each module registers its own sub-commands; a command returns an exit code and prints
human-readable lines. Errors the operator can fix are printed as one line saying what to fix
(exit 2); secrets are never printed except a webhook secret, once, when it is generated.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mc_pipelines.cli import (
    base,
    bench,
    campaigns,
    connections,
    database,
    demo,
    dev,
    runs,
    webhooks,
)

MODULES = [database, connections, runs, campaigns, webhooks, demo, dev, bench]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every module's sub-commands."""
    parser = argparse.ArgumentParser(prog="mc-pipelines", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mc-pipelines` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except base.OperatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
