"""The application's contact segments and their sync status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.store.clock import utcnow
from mc_pipelines.store.tables import contact_segments

SEGMENT_COLUMNS = ["id", "name", "description", "segment_type", "filters", "audience_id",
                   "mailchimp_tag", "status", "last_synced_at"]

if TYPE_CHECKING:
    from mc_pipelines.store.connections import Connection


def active_segments(engine: Engine, org_id: str) -> pd.DataFrame:
    """The org's segments that are not soft-deleted (filters parsed), ordered by id."""
    query = (
        sa.select(*[contact_segments.c[c] for c in SEGMENT_COLUMNS])
        .where(contact_segments.c.org_id == org_id, contact_segments.c.deleted_at.is_(None))
        .order_by(contact_segments.c.id)
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS)


def set_status(engine: Engine, org_id: str, segment_ids: Iterable[int], status: str,
               *, error: str | None = None) -> None:
    """Move segments to `status` (pending → syncing → synced | error)."""
    ids = [int(i) for i in segment_ids]
    if not ids:
        return
    values: dict = {"status": status, "last_error": error}
    if status == "synced":
        values["last_synced_at"] = utcnow()
    with engine.begin() as conn:
        conn.execute(
            contact_segments.update()
            .where(contact_segments.c.org_id == org_id, contact_segments.c.id.in_(ids))
            .values(**values)
        )


def org_audiences(connection: Connection | None, segments: pd.DataFrame) -> list[str]:
    """The org's default audience first, then every other audience an active segment points to."""
    audiences = [connection.audience_id] if connection and connection.audience_id else []
    if len(segments):
        for audience in segments["audience_id"].dropna().unique():
            if audience not in audiences:
                audiences.append(str(audience))
    return audiences
