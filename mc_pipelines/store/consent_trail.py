"""A contact's consent trail (`consent_events`), read within one org, oldest first."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.store.tables import consent_events


def consent_trail(engine: Engine, org_id: str, contact_id: int) -> list[dict[str, Any]]:
    """Every consent event of the contact in the org (kind, at, source, detail), oldest first."""
    query = (sa.select(consent_events.c.kind, consent_events.c.at, consent_events.c.source,
                       consent_events.c.detail)
             .where(consent_events.c.org_id == org_id, consent_events.c.contact_id == contact_id)
             .order_by(consent_events.c.at, consent_events.c.id))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
