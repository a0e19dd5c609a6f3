"""`mailchimp_member_state`: what the project last pushed to each audience — the diff base.

A row's `payload_hash` is set only once Mailchimp accepted that payload; `status` is Mailchimp's
status as last seen (or the local markers `creating` — a create was sent but not confirmed — and
`unknown`). `managed` is False for members that existed in Mailchimp before the project: they are
recorded so they are never touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.store.frames import read_frame, upsert
from mc_pipelines.store.tables import mailchimp_member_state as state_table

STATE_COLUMNS = [
    "audience_id", "subscriber_hash", "contact_id", "email", "payload_hash", "status", "managed",
    "managed_tags", "mailchimp_tags", "last_changed",
]
LOCAL_STATUSES = ("creating", "unknown")


def load_state(engine: Engine, org_id: str) -> pd.DataFrame:
    """Every state row of the org (all audiences) as a DataFrame of `STATE_COLUMNS`."""
    frame = read_frame(
        engine,
        f"SELECT {', '.join(STATE_COLUMNS)} FROM mailchimp_member_state WHERE org_id = :org",
        {"org": org_id}, STATE_COLUMNS,
        text_columns=["audience_id", "subscriber_hash", "email", "payload_hash", "status"],
        bool_columns=["managed"], json_columns=["managed_tags", "mailchimp_tags"],
        datetime_columns=["last_changed"],
    )
    frame["contact_id"] = frame["contact_id"].astype("Int64")
    return frame


def save_rows(engine: Engine, org_id: str, rows: list[dict[str, Any]], columns: Iterable[str]) -> None:
    """Upsert state rows of one org; each row holds `audience_id`, `subscriber_hash` and `columns`.

    Only `columns` are updated on existing rows, so a phase that confirms tags does not overwrite
    the payload hash a previous phase wrote, and vice versa."""
    columns = list(columns)
    full = [
        {"org_id": org_id, "email": "", "status": "unknown", "managed": True, "managed_tags": [],
         "mailchimp_tags": [], **row}
        for row in rows
    ]
    with engine.begin() as conn:
        upsert(conn, state_table, full, columns)


def update_existing(engine: Engine, org_id: str, audience_id: str,
                    updates: dict[str, dict[str, Any]]) -> int:
    """Update columns of rows that already exist (keyed by subscriber hash); returns rows touched.

    Used by the member-status pull: members the project never pushed are not added."""
    if not updates:
        return 0
    touched = 0
    with engine.begin() as conn:
        existing = set()
        hashes = list(updates)
        for start in range(0, len(hashes), 1000):
            existing.update(conn.execute(
                sa.select(state_table.c.subscriber_hash).where(
                    state_table.c.org_id == org_id, state_table.c.audience_id == audience_id,
                    state_table.c.subscriber_hash.in_(hashes[start:start + 1000]),
                )
            ).scalars())
        for sub_hash in existing:
            conn.execute(
                state_table.update().where(
                    state_table.c.org_id == org_id, state_table.c.audience_id == audience_id,
                    state_table.c.subscriber_hash == sub_hash,
                ).values(**updates[sub_hash])
            )
            touched += 1
    return touched


def rows_for_contact(engine: Engine, org_id: str, contact_id: int) -> list[dict[str, Any]]:
    """The state rows of one contact (every audience it was synced to)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(state_table).where(
                state_table.c.org_id == org_id, state_table.c.contact_id == contact_id
            )
        )
        return [dict(r._mapping) for r in rows]


def delete_rows(engine: Engine, org_id: str, audience_id: str, hashes: Iterable[str]) -> None:
    """Forget state rows (GDPR erasure)."""
    hashes = list(hashes)
    with engine.begin() as conn:
        conn.execute(
            state_table.delete().where(
                state_table.c.org_id == org_id, state_table.c.audience_id == audience_id,
                state_table.c.subscriber_hash.in_(hashes),
            )
        )
