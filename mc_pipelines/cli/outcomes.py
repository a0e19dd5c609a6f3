"""`errors` (the latest run's failed rows with contact ids) and `sync-status` (a sync request's
outcome)."""

from __future__ import annotations

import click

from mc_pipelines.actions import sync_requests as actions
from mc_pipelines.cli.support import app_engine, format_table, org_option


def _print_run(run: actions.RunOutcome) -> None:
    counts = " ".join(f"{k}={v}" for k, v in sorted(run.counts.items()) if not isinstance(v, dict | list))
    print(f"run {run.run_id} (dagster {run.dagster_run_id or '-'}): {run.status}, started "
          f"{run.started_at.isoformat(sep=' ', timespec='seconds')} UTC; {counts}")
    if not run.errors:
        print("no failed rows")
        return
    print(f"{run.error_count} failed or skipped row(s)" + (f", first {len(run.errors)}:" if
                                                          run.error_count > len(run.errors) else ":"))
    print(format_table(["contact", "audience", "code", "message"],
                       [[e["contact_id"], e["audience_id"], e["error_code"], " ".join(e["message"].split())]
                        for e in run.errors]))


@click.command("errors", help="the org's latest sync run with its failed rows and their contact ids")
@org_option
@click.option("--limit", type=click.IntRange(1, 100000), default=200, help="rows listed (default 200)")
def cmd_errors(org: str, limit: int) -> int:
    """Print the latest run and its row errors."""
    run = actions.last_run(app_engine(), org, error_limit=limit)
    if run is None:
        print(f"org {org} has no sync run yet: `mc-pipelines sync --org {org}` runs one")
        return 0
    _print_run(run)
    return 0


@click.command("sync-status", help="where a sync request stands, and its run's outcome")
@org_option
@click.option("--request", "request_id", required=True, help="the id sync-now printed")
def cmd_sync_status(org: str, request_id: str) -> int:
    """Print the request's status and, once it ran, the run."""
    found = actions.request_outcome(app_engine(), org, request_id.strip())
    print(f"sync request {found.request_id} of org {org} (by {found.requested_by}): {found.status}")
    if found.run is not None:
        _print_run(found.run)
    return 0


COMMANDS = [cmd_errors, cmd_sync_status]
