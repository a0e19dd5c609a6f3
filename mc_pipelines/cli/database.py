"""`init-db` and `seed-demo`."""

from __future__ import annotations

import argparse

from mc_pipelines.cli.base import app_engine
from mc_pipelines.demo.seed import seed_demo
from mc_pipelines.store.migrations import migrate


def cmd_init_db(_args: argparse.Namespace) -> int:
    """Apply pending migrations from `sql/` (idempotent)."""
    applied = migrate(app_engine(require_schema=False))
    print("applied: " + ", ".join(applied) if applied else "schema up to date (nothing to apply)")
    return 0


def cmd_seed_demo(_args: argparse.Namespace) -> int:
    """Load the deterministic demo dataset (replaces the demo orgs' application data)."""
    engine = app_engine(require_schema=False)
    migrate(engine)
    for org_id, count in seed_demo(engine).items():
        print(f"seeded {org_id}: {count} contacts")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands."""
    p = subparsers.add_parser("init-db", help="apply the sql/ migrations (idempotent)")
    p.set_defaults(handler=cmd_init_db)
    p = subparsers.add_parser("seed-demo", help="load the deterministic demo dataset")
    p.set_defaults(handler=cmd_seed_demo)
