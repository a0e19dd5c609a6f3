"""Retention of the pipeline's history rows: sync runs, their per-row outcomes and webhook events
older than a cutoff are deleted; the audit log is kept whatever its age.

Always kept: the newest `sync_runs` row of each org and kind (the next run reads whether it
finished), runs still `running`, the `sync_errors` of every kept run, and webhook events not
processed yet.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.store.tables import mailchimp_webhook_events, sync_errors, sync_runs

#: Default age (days) after which history rows are removed.
DEFAULT_RETENTION_DAYS = 90


def _newest_run_ids() -> sa.Select:
    ranked = sa.select(sync_runs.c.id, sa.func.row_number().over(
        partition_by=(sync_runs.c.org_id, sync_runs.c.kind), order_by=sync_runs.c.started_at.desc(),
    ).label("n")).subquery()
    return sa.select(ranked.c.id).where(ranked.c.n == 1)


def purge_history(engine: Engine, cutoff: datetime) -> dict[str, int]:
    """Delete history rows older than `cutoff` (naive UTC); returns rows removed per table."""
    with engine.begin() as conn:
        runs = conn.execute(sync_runs.delete().where(
            sync_runs.c.started_at < cutoff, sync_runs.c.status != "running",
            sync_runs.c.id.not_in(_newest_run_ids()))).rowcount
        # a run's outcomes go with it (and outcomes whose run is long gone)
        errors = conn.execute(sync_errors.delete().where(
            sync_errors.c.at < cutoff, sync_errors.c.run_id.not_in(sa.select(sync_runs.c.id)))).rowcount
        events = conn.execute(mailchimp_webhook_events.delete().where(
            mailchimp_webhook_events.c.received_at < cutoff,
            mailchimp_webhook_events.c.processed_at.is_not(None))).rowcount
    return {"sync_runs": runs, "sync_errors": errors, "mailchimp_webhook_events": events}
