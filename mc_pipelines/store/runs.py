"""Sync run history (`sync_runs`) and per-row outcomes (`sync_errors`)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.store.clock import new_id, utcnow
from mc_pipelines.store.tables import sync_errors, sync_runs


def start_run(engine: Engine, org_id: str, *, kind: str, dry_run: bool,
              dagster_run_id: str | None) -> str:
    """Open a sync_runs row; returns its id."""
    run_id = new_id()
    with engine.begin() as conn:
        conn.execute(sync_runs.insert().values(
            id=run_id, org_id=org_id, kind=kind, dry_run=dry_run, dagster_run_id=dagster_run_id,
            started_at=utcnow(), status="running", summary={},
        ))
    return run_id


def finish_run(engine: Engine, run_id: str, *, status: str, summary: dict[str, Any],
               org_id: str | None = None) -> None:
    """Close a sync_runs row with its outcome and summary counts (scoped to `org_id` when given,
    as every org-data query should be)."""
    query = sync_runs.update().where(sync_runs.c.id == run_id)
    if org_id is not None:
        query = query.where(sync_runs.c.org_id == org_id)
    with engine.begin() as conn:
        conn.execute(query.values(status=status, finished_at=utcnow(), summary=summary))


def record_errors(engine: Engine, run_id: str, org_id: str, errors: list[dict[str, Any]]) -> None:
    """Store per-row outcomes: each has audience_id, contact_id, email, error_code, message."""
    if not errors:
        return
    now = utcnow()
    rows = [
        {"id": new_id(), "run_id": run_id, "org_id": org_id, "at": now,
         "audience_id": e.get("audience_id"), "contact_id": e.get("contact_id"),
         "email": e.get("email"), "error_code": e["error_code"], "message": e["message"]}
        for e in errors
    ]
    with engine.begin() as conn:
        for start in range(0, len(rows), 2000):
            conn.execute(sync_errors.insert(), rows[start:start + 2000])


def errors_for_run(engine: Engine, org_id: str, run_id: str) -> pd.DataFrame:
    """The per-row outcomes recorded by one run of `org_id`."""
    query = sa.select(sync_errors).where(sync_errors.c.org_id == org_id, sync_errors.c.run_id == run_id)
    with engine.connect() as conn:
        return pd.DataFrame([dict(r._mapping) for r in conn.execute(query)])


def latest_runs(engine: Engine, org_id: str, limit: int = 10) -> list[dict[str, Any]]:
    """The org's most recent sync runs, newest first."""
    query = (sa.select(sync_runs).where(sync_runs.c.org_id == org_id)
             .order_by(sync_runs.c.started_at.desc()).limit(limit))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def last_sync_finished(engine: Engine, org_id: str) -> bool:
    """True when the org's latest (non-dry) audience sync run finished — so every write it made is
    recorded in the state — or there was none; False after a run that died or failed mid-push."""
    query = (sa.select(sync_runs.c.status)
             .where(sync_runs.c.org_id == org_id, sync_runs.c.kind == "audience_sync")
             .order_by(sync_runs.c.started_at.desc()).limit(1))
    with engine.connect() as conn:
        status = conn.execute(query).scalar()
    return status is None or status in ("success", "partial")


def latest_errors(engine: Engine, org_id: str) -> pd.DataFrame:
    """The most recent per-row outcome of each (audience, contact) of `org_id`: columns
    audience_id, contact_id, error_code, message, at."""
    latest = (
        sa.select(sync_errors.c.audience_id, sync_errors.c.contact_id,
                  sa.func.max(sync_errors.c.at).label("at"))
        .where(sync_errors.c.org_id == org_id, sync_errors.c.contact_id.is_not(None))
        .group_by(sync_errors.c.audience_id, sync_errors.c.contact_id)
        .subquery()
    )
    query = sa.select(sync_errors.c.audience_id, sync_errors.c.contact_id, sync_errors.c.error_code,
                      sync_errors.c.message, sync_errors.c.at).join(latest, sa.and_(
                          sync_errors.c.audience_id == latest.c.audience_id,
                          sync_errors.c.contact_id == latest.c.contact_id,
                          sync_errors.c.at == latest.c.at,
                      )).where(sync_errors.c.org_id == org_id)
    columns = ["audience_id", "contact_id", "error_code", "message", "at"]
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=columns)
    return frame.drop_duplicates(["audience_id", "contact_id"], keep="last")


def latest_run_error_counts(engine: Engine) -> dict[str, int]:
    """Per org with a real (not dry) run: the number of per-row outcomes its latest one recorded."""
    latest = (
        sa.select(sync_runs.c.org_id, sync_runs.c.id,
                  sa.func.row_number().over(partition_by=sync_runs.c.org_id,
                                            order_by=sync_runs.c.started_at.desc()).label("n"))
        .where(sync_runs.c.dry_run.is_(False))
        .subquery()
    )
    with engine.connect() as conn:
        return dict(conn.execute(
            sa.select(latest.c.org_id, sa.func.count(sync_errors.c.id))
            .select_from(latest.outerjoin(sync_errors, sync_errors.c.run_id == latest.c.id))
            .where(latest.c.n == 1).group_by(latest.c.org_id)
        ).tuples().all())
