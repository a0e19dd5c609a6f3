"""What a finished sync leaves in the application: its `sync_runs` row with the summary, the rows
that need attention in `sync_errors`, the connection's last sync and an audit entry — the same
for a sync that planned and pushed and for one that found its org settled (`assets.settled`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from mc_pipelines.assets.sync_view import RunView
from mc_pipelines.store import audit, connections, runs


def record_sync(engine: Engine, org_id: str, run_id: str, view: RunView, calls: dict[str, int],
                *, actor: str, **extra: Any) -> dict[str, Any]:
    """Record the sync `run_id` as `view` shows it (`calls`: Mailchimp calls, writes and retries;
    `extra`: more summary entries); returns the summary."""
    status = view.status()
    summary = {**view.totals, "skipped": len(view.skipped), **calls, **extra}
    runs.record_errors(engine, run_id, org_id, view.row_outcomes + view.failed_audiences)
    runs.finish_run(engine, run_id, status=status, summary=summary, org_id=org_id)
    connections.record_sync_status(engine, org_id, status=status, error=None if status == "success" else
                                   f"{view.problem_count()} rows or audiences need attention; see "
                                   f"sync_errors for run {run_id}")
    with engine.begin() as conn:
        audit.record(conn, org_id=org_id, actor=actor, action="sync", detail={"run_id": run_id, **summary})
    return summary
