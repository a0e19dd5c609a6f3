"""`init-db` and `seed-demo`."""

from __future__ import annotations

import click

from mc_pipelines.cli.support import app_engine
from mc_pipelines.demo.seed import seed_demo
from mc_pipelines.store.migrations import migrate


@click.command("init-db", help="apply the sql/ migrations (idempotent)")
def cmd_init_db() -> int:
    """Apply pending migrations from `sql/` (idempotent)."""
    applied = migrate(app_engine(require_schema=False))
    print("applied: " + ", ".join(applied) if applied else "schema up to date (nothing to apply)")
    return 0


@click.command("seed-demo", help="load the deterministic demo dataset")
def cmd_seed_demo() -> int:
    """Load the deterministic demo dataset (replaces the demo orgs' application data)."""
    engine = app_engine(require_schema=False)
    migrate(engine)
    for org_id, count in seed_demo(engine).items():
        print(f"seeded {org_id}: {count} contacts")
    return 0


COMMANDS = [cmd_init_db, cmd_seed_demo]
