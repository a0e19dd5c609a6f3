"""`sync_requests`: the application's "Sync now" button, consumed by the sensor."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.store.clock import new_id, utcnow
from mc_pipelines.store.tables import sync_requests


def request_sync(engine: Engine, org_id: str, requested_by: str) -> str:
    """Insert a pending sync request; returns its id."""
    request_id = new_id()
    with engine.begin() as conn:
        conn.execute(sync_requests.insert().values(
            id=request_id, org_id=org_id, requested_at=utcnow(), requested_by=requested_by,
        ))
    return request_id


def pending_requests(engine: Engine, limit: int = 100) -> list[dict[str, Any]]:
    """Unconsumed requests, oldest first."""
    query = (sa.select(sync_requests).where(sync_requests.c.consumed_at.is_(None))
             .order_by(sync_requests.c.requested_at).limit(limit))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def mark_consumed(engine: Engine, request_id: str, run_key: str | None = None) -> None:
    """Mark a request consumed once its run has been requested."""
    with engine.begin() as conn:
        conn.execute(sync_requests.update().where(sync_requests.c.id == request_id)
                     .values(consumed_at=utcnow(), run_id=run_key))
