"""The per-org lock as CLI commands take it: wait for a busy org, printing progress on stderr.

Commands that change an org's data (`sync`, `erase-contact`, `import`) wrap their work in
`org_locked(engine, org, "sync", wait)` and offer `lock_wait_option`; see `store/org_lock.py`.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager

import click
from sqlalchemy.engine import Engine

from mc_pipelines.cli.support import cli_actor
from mc_pipelines.store.org_lock import DEFAULT_WAIT_SECONDS, org_lock

lock_wait_option = click.option(
    "--wait", "lock_wait", type=click.FloatRange(min=0), default=DEFAULT_WAIT_SECONDS, show_default=True,
    help="seconds to wait while another run of the org holds its lock (0: fail at once)")


def org_locked(engine: Engine, org_id: str, what: str, wait: float = DEFAULT_WAIT_SECONDS,
               ) -> AbstractContextManager[None]:
    """The org's lock for a command (`what`, e.g. "sync"), reporting on stderr while it waits;
    raises `OrgBusyError` (exit 2) after `wait` seconds."""
    def report(holder: str | None, waited: float) -> None:
        print(f"waiting: org {org_id} is busy ({holder or 'another run'}), {waited:.0f} s of at most "
              f"{wait:.0f} s", file=sys.stderr, flush=True)

    return org_lock(engine, org_id, holder=f"{cli_actor()} {what}", timeout=wait, on_wait=report)
