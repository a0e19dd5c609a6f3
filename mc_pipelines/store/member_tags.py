"""`mailchimp_member_tags`: every member's Mailchimp tags as the last full read saw them.

One row per (org, audience, member), replaced audience by audience: each read upserts the members
it saw with its `read_at`, then forgets the rows an earlier read saw and this one did not (members
deleted in Mailchimp). Kept in the application database (contact data never outlives a run
anywhere else)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.store.frames import read_frame, upsert
from mc_pipelines.store.tables import mailchimp_member_tags as tags_table

COLUMNS = ["audience_id", "subscriber_hash", "email", "status", "tags", "read_at"]


def save_page(engine: Engine, org_id: str, audience_id: str, rows: Iterable[dict[str, Any]],
              read_at: datetime) -> int:
    """Upsert one page of members (`subscriber_hash`, `email`, `status`, `tags`); returns the
    number of rows written."""
    full = [{"org_id": org_id, "audience_id": audience_id, "read_at": read_at,
             **{k: r[k] for k in ("subscriber_hash", "email", "status", "tags")}} for r in rows]
    with engine.begin() as conn:
        upsert(conn, tags_table, full, ["email", "status", "tags", "read_at"])
    return len(full)


def forget_unseen(engine: Engine, org_id: str, audience_id: str, read_at: datetime) -> int:
    """Delete the audience's rows the read of `read_at` did not see; returns how many."""
    with engine.begin() as conn:
        return conn.execute(tags_table.delete().where(
            tags_table.c.org_id == org_id, tags_table.c.audience_id == audience_id,
            tags_table.c.read_at < read_at)).rowcount


def load_tags(engine: Engine, org_id: str) -> pd.DataFrame:
    """Every stored member of the org (all audiences) as a DataFrame of `COLUMNS`."""
    return read_frame(
        engine, f"SELECT {', '.join(COLUMNS)} FROM mailchimp_member_tags WHERE org_id = :org "
        "ORDER BY audience_id, subscriber_hash", {"org": org_id}, COLUMNS,
        text_columns=["audience_id", "subscriber_hash", "email", "status"],
        json_columns=["tags"], datetime_columns=["read_at"])


def audience_counts(engine: Engine, org_id: str) -> dict[str, int]:
    """Stored members per audience of the org."""
    with engine.connect() as conn:
        return {a: int(n) for a, n in conn.execute(
            sa.select(tags_table.c.audience_id, sa.func.count()).where(tags_table.c.org_id == org_id)
            .group_by(tags_table.c.audience_id)).tuples()}
