"""The audit trail: one row per state-changing operation, actor included, never personal data
beyond ids."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mc_pipelines.store.clock import new_id, utcnow
from mc_pipelines.store.tables import audit_log


def record(conn: Connection, *, org_id: str | None, actor: str, action: str, detail: dict[str, Any] | None = None) -> None:
    """Append an audit entry inside the caller's transaction."""
    conn.execute(
        audit_log.insert().values(
            id=new_id(), org_id=org_id, at=utcnow(), actor=actor, action=action, detail=detail or {}
        )
    )


def entries(engine: Engine, org_id: str, action: str | None = None) -> list[dict[str, Any]]:
    """Audit entries of one org, oldest first (optionally one action)."""
    query = sa.select(audit_log).where(audit_log.c.org_id == org_id).order_by(audit_log.c.at)
    if action:
        query = query.where(audit_log.c.action == action)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
