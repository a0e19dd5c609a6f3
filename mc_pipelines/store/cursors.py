"""Per-org, per-audience cursors of the incremental member-status pull."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.store.clock import utcnow
from mc_pipelines.store.frames import upsert
from mc_pipelines.store.tables import mailchimp_pull_cursors as cursors


def get_cursor(engine: Engine, org_id: str, audience_id: str) -> datetime | None:
    """The `since_last_changed` value of the last pull, or None before the first."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(cursors.c.since_last_changed).where(
                cursors.c.org_id == org_id, cursors.c.audience_id == audience_id)
        ).scalar_one_or_none()


def set_cursor(engine: Engine, org_id: str, audience_id: str, value: datetime | None) -> None:
    """Store the cursor (never moves backwards)."""
    current = get_cursor(engine, org_id, audience_id)
    if current is not None and value is not None and value < current:
        value = current
    with engine.begin() as conn:
        upsert(conn, cursors, [{"org_id": org_id, "audience_id": audience_id,
                                "since_last_changed": value, "updated_at": utcnow()}],
               ["since_last_changed", "updated_at"])
