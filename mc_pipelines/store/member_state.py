"""`mailchimp_member_state`: what the project knows of each member it tracks — the diff base.

One row per (org, audience, subscriber hash), holding the lifecycle state of `sync.lifecycle`:
ownership, the status last read and its origin, the pending intent, the payload Mailchimp last
accepted (`payload_hash`), the managed tags applied and the tags the member had before.
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
    "audience_id", "subscriber_hash", "contact_id", "email", "payload_hash", "status",
    "ownership", "status_origin", "intent", "intent_at", "managed_tags", "prior_tags", "parked",
    "moved_from_hash", "mailchimp_tags", "last_changed",
]

# What the diff and the push read (the pull's `mailchimp_tags` and `last_changed` are not).
DIFF_COLUMNS = [
    "audience_id", "subscriber_hash", "contact_id", "email", "payload_hash", "status",
    "ownership", "status_origin", "intent", "intent_at", "managed_tags", "prior_tags", "parked",
    "moved_from_hash",
]
# Everything a sync's plan reads of the state: the diff's columns and the opt-out's time (A8). The
# pull's `mailchimp_tags` and `last_changed`, and the bookkeeping times, plan nothing.
PLAN_COLUMNS = [*DIFF_COLUMNS, "opted_out_at"]


def load_state(engine: Engine, org_id: str, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Every state row of the org (all audiences) as a DataFrame of `STATE_COLUMNS`, or of the
    given subset of them (in `STATE_COLUMNS` order; a million rows read faster without the
    columns a caller does not need). JSON cells are shared between equal rows: read-only."""
    wanted = set(STATE_COLUMNS if columns is None else columns)
    unknown = wanted - set(STATE_COLUMNS)
    if unknown:
        raise ValueError(f"not state columns: {', '.join(sorted(unknown))}")
    cols = [c for c in STATE_COLUMNS if c in wanted]
    frame = read_frame(
        engine,
        f"SELECT {', '.join(cols)} FROM mailchimp_member_state WHERE org_id = :org",
        {"org": org_id}, cols,
        text_columns=[c for c in ("audience_id", "subscriber_hash", "email", "payload_hash", "status",
                                  "ownership", "status_origin", "intent", "parked",
                                  "moved_from_hash") if c in wanted],
        json_columns=[c for c in ("managed_tags", "prior_tags", "mailchimp_tags") if c in wanted],
        datetime_columns=[c for c in ("last_changed", "intent_at") if c in wanted],
    )
    if "contact_id" in wanted:
        frame["contact_id"] = frame["contact_id"].astype("Int64")
    return frame


def save_rows(engine: Engine, org_id: str, rows: list[dict[str, Any]], columns: Iterable[str]) -> None:
    """Upsert state rows of one org; each row holds `audience_id`, `subscriber_hash` and `columns`.

    Only `columns` are updated on existing rows, so a phase that confirms tags does not overwrite
    the payload hash a previous phase wrote, and vice versa."""
    columns = list(columns)
    # NOT NULL columns a row updating an existing member does not carry (the tag lists have
    # their default in the table)
    full = [{"org_id": org_id, "email": "", "status": "unknown", "ownership": "none", **row} for row in rows]
    with engine.begin() as conn:
        upsert(conn, state_table, full, columns)


def update_existing(engine: Engine, org_id: str, audience_id: str,
                    updates: dict[str, dict[str, Any]]) -> None:
    """Update rows that already exist, keyed by subscriber hash (one executemany per column set).

    Used by the member-status pull: members the project never pushed are not added."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for sub_hash, values in updates.items():
        by_columns.setdefault(tuple(sorted(values)), []).append(
            {"_hash": sub_hash, **{f"v_{k}": v for k, v in values.items()}}
        )
    with engine.begin() as conn:
        for columns, params in by_columns.items():
            stmt = state_table.update().where(
                state_table.c.org_id == org_id, state_table.c.audience_id == audience_id,
                state_table.c.subscriber_hash == sa.bindparam("_hash"),
            ).values({c: sa.bindparam(f"v_{c}") for c in columns})
            for start in range(0, len(params), 5000):
                conn.execute(stmt, params[start:start + 5000])


def statuses(engine: Engine, org_id: str, audience_id: str, hashes: Iterable[str]) -> dict[str, str]:
    """The stored status of the given members (absent hashes are not in the state)."""
    hashes = list(hashes)
    found: dict[str, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(hashes), 1000):
            found.update(conn.execute(
                sa.select(state_table.c.subscriber_hash, state_table.c.status).where(
                    state_table.c.org_id == org_id, state_table.c.audience_id == audience_id,
                    state_table.c.subscriber_hash.in_(hashes[start:start + 1000]),
                )
            ).tuples().all())
    return found


def rows_for_contact(engine: Engine, org_id: str, contact_id: int) -> list[dict[str, Any]]:
    """The state rows of one contact (every audience it was synced to)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(state_table).where(
                state_table.c.org_id == org_id, state_table.c.contact_id == contact_id
            )
        )
        return [dict(r._mapping) for r in rows]


def forget_rows(engine: Engine, org_id: str, audience_id: str, hashes: Iterable[str]) -> int:
    """Delete the state rows of these members of one audience (a member that moved to another
    address is tracked under its new hash). Returns the number of rows removed."""
    hashes = list(hashes)
    removed = 0
    with engine.begin() as conn:
        for start in range(0, len(hashes), 1000):
            removed += conn.execute(state_table.delete().where(
                state_table.c.org_id == org_id, state_table.c.audience_id == audience_id,
                state_table.c.subscriber_hash.in_(hashes[start:start + 1000]),
            )).rowcount
    return removed


def contacts_of_members(engine: Engine, org_id: str, hashes: Iterable[str]) -> dict[str, set[int]]:
    """The contacts the org's state links to these members, in any audience, keyed by hash."""
    hashes = sorted(set(hashes))
    found: dict[str, set[int]] = {}
    with engine.connect() as conn:
        for start in range(0, len(hashes), 1000):
            for sub_hash, contact_id in conn.execute(
                sa.select(state_table.c.subscriber_hash, state_table.c.contact_id).where(
                    state_table.c.org_id == org_id, state_table.c.contact_id.is_not(None),
                    state_table.c.subscriber_hash.in_(hashes[start:start + 1000]),
                )
            ).tuples():
                found.setdefault(sub_hash, set()).add(int(contact_id))
    return found


def lifecycle_rows(engine: Engine, org_id: str, audience_id: str, hashes: Iterable[str],
                   columns: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The given columns of the given members' state rows, keyed by hash (absent members are
    not in the state)."""
    hashes = list(hashes)
    cols = [state_table.c[c] for c in columns]
    found: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for start in range(0, len(hashes), 1000):
            rows = conn.execute(sa.select(state_table.c.subscriber_hash, *cols).where(
                state_table.c.org_id == org_id, state_table.c.audience_id == audience_id,
                state_table.c.subscriber_hash.in_(hashes[start:start + 1000]),
            ))
            for row in rows:
                values = dict(row._mapping)
                found[values.pop("subscriber_hash")] = values
    return found


def hashes_by_mailchimp_contact(engine: Engine, org_id: str, audience_id: str,
                                contact_ids: Iterable[str]) -> dict[str, str]:
    """Mailchimp contact id → subscriber hash of the tracked members with those contact ids."""
    ids = sorted(set(contact_ids))
    found: dict[str, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 1000):
            found.update(conn.execute(
                sa.select(state_table.c.mailchimp_contact_id, state_table.c.subscriber_hash).where(
                    state_table.c.org_id == org_id, state_table.c.audience_id == audience_id,
                    state_table.c.mailchimp_contact_id.in_(ids[start:start + 1000]),
                )).tuples().all())
    return found


def follow_move(engine: Engine, org_id: str, audience_id: str, old_hash: str, new_hash: str,
                new_email: str, now: Any) -> None:
    """The member at `old_hash` now has another address in Mailchimp (the person changed it):
    its state row moves to the new hash, remembering the old one (LIFECYCLE B9)."""
    with engine.begin() as conn:
        conn.execute(state_table.delete().where(
            state_table.c.org_id == org_id, state_table.c.audience_id == audience_id,
            state_table.c.subscriber_hash == new_hash))
        conn.execute(state_table.update().where(
            state_table.c.org_id == org_id, state_table.c.audience_id == audience_id,
            state_table.c.subscriber_hash == old_hash,
        ).values(subscriber_hash=new_hash, email=new_email, moved_from_hash=old_hash,
                 status_read_at=now))


def member_counts(engine: Engine) -> dict[str, int]:
    """Members tracked per org (every audience), for orgs with any."""
    with engine.connect() as conn:
        return {org: int(n) for org, n in conn.execute(
            sa.select(state_table.c.org_id, sa.func.count()).group_by(state_table.c.org_id)
        ).tuples()}
