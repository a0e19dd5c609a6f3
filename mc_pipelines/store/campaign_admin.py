"""Untracking a campaign (`campaign_tracking.deleted_at`, a soft delete), within one org."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from mc_pipelines.store import audit
from mc_pipelines.store.clock import utcnow
from mc_pipelines.store.tables import campaign_tracking as tracking


def untrack_campaign(engine: Engine, org_id: str, campaign_id: str, *, actor: str) -> bool:
    """Soft-delete the org's tracking row of `campaign_id` (no longer refreshed); audited.
    Returns False when the org does not track it."""
    with engine.begin() as conn:
        changed = conn.execute(tracking.update().where(
            tracking.c.org_id == org_id, tracking.c.campaign_id == campaign_id,
            tracking.c.deleted_at.is_(None)).values(deleted_at=utcnow())).rowcount
        if changed:
            audit.record(conn, org_id=org_id, actor=actor, action="untrack_campaign",
                         detail={"campaign_id": campaign_id})
    return bool(changed)

