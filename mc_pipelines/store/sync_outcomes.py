"""What became of a "Sync now" request and of the org's latest run: the request row, the first
audience sync run that started once the sensor took it, and a run's per-row errors — always
within one org."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.store.tables import sync_errors, sync_requests, sync_runs

ERROR_COLUMNS = ("contact_id", "audience_id", "error_code", "message", "at")


def get_request(engine: Engine, org_id: str, request_id: str) -> dict[str, Any] | None:
    """The org's sync request (None for an unknown id or another org's)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(sync_requests).where(
            sync_requests.c.org_id == org_id, sync_requests.c.id == request_id)).first()
    return dict(row._mapping) if row else None


def first_run_since(engine: Engine, org_id: str, since: datetime) -> dict[str, Any] | None:
    """The org's first real (not dry) audience sync run started at or after `since`."""
    query = (sa.select(sync_runs).where(
        sync_runs.c.org_id == org_id, sync_runs.c.kind == "audience_sync",
        sync_runs.c.dry_run.is_(False), sync_runs.c.started_at >= since)
        .order_by(sync_runs.c.started_at).limit(1))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return dict(row._mapping) if row else None


def latest_run(engine: Engine, org_id: str) -> dict[str, Any] | None:
    """The org's latest real audience sync run."""
    query = (sa.select(sync_runs).where(
        sync_runs.c.org_id == org_id, sync_runs.c.kind == "audience_sync", sync_runs.c.dry_run.is_(False))
        .order_by(sync_runs.c.started_at.desc()).limit(1))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return dict(row._mapping) if row else None


def run_errors(engine: Engine, org_id: str, run_id: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Per-row outcomes one run of the org recorded (contact id first), at most `limit`."""
    query = (sa.select(*[sync_errors.c[c] for c in ERROR_COLUMNS])
             .where(sync_errors.c.org_id == org_id, sync_errors.c.run_id == run_id)
             .order_by(sync_errors.c.contact_id, sync_errors.c.error_code).limit(limit))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def count_run_errors(engine: Engine, org_id: str, run_id: str) -> int:
    """How many per-row outcomes one run of the org recorded."""
    query = sa.select(sa.func.count()).select_from(sync_errors).where(
        sync_errors.c.org_id == org_id, sync_errors.c.run_id == run_id)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
