"""Reading the application's contacts and writing back consent withdrawals."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.mailchimp.addresses import address_key, normalize_address
from mc_pipelines.store.clock import new_id, utcnow
from mc_pipelines.store.frames import read_frame
from mc_pipelines.store.tables import consent_events, contacts

CONTACT_COLUMNS = [
    "id", "org_id", "email", "first_name", "last_name", "phone", "contact_type", "department",
    "location", "employment_type", "employment_status", "marketing_consent", "tags",
    "created_at", "updated_at",
]
_TEXT_COLUMNS = [
    "org_id", "email", "first_name", "last_name", "phone", "contact_type", "department",
    "location", "employment_type", "employment_status",
]


def read_live_contacts(engine: Engine, org_id: str) -> pd.DataFrame:
    """The org's contacts that are not soft-deleted, as a DataFrame of `CONTACT_COLUMNS`
    (tags parsed to lists, text NULLs as None), ordered by id."""
    cols = ", ".join(CONTACT_COLUMNS)
    frame = read_frame(
        engine,
        f"SELECT {cols} FROM contacts WHERE org_id = :org AND deleted_at IS NULL ORDER BY id",
        {"org": org_id}, CONTACT_COLUMNS, text_columns=_TEXT_COLUMNS,
        bool_columns=["marketing_consent"], json_columns=["tags"],
        datetime_columns=["created_at", "updated_at"],
    )
    frame["id"] = frame["id"].astype("int64")
    return frame


def withdraw_consent(
    engine: Engine, org_id: str, contact_ids: Iterable[int], *, source: str, detail: str
) -> list[int]:
    """Set marketing_consent off for these contacts of `org_id` and log a consent event for each
    contact whose consent was on. Returns the ids actually changed (idempotent)."""
    ids = sorted({int(i) for i in contact_ids})
    if not ids:
        return []
    changed: list[int] = []
    now = utcnow()
    with engine.begin() as conn:
        for start in range(0, len(ids), 1000):
            part = ids[start:start + 1000]
            rows = conn.execute(
                sa.select(contacts.c.id).where(
                    contacts.c.org_id == org_id, contacts.c.id.in_(part),
                    contacts.c.marketing_consent.is_(True),
                )
            ).scalars().all()
            if not rows:
                continue
            conn.execute(
                contacts.update()
                .where(contacts.c.org_id == org_id, contacts.c.id.in_(rows))
                .values(marketing_consent=False, updated_at=now)
            )
            conn.execute(
                consent_events.insert(),
                [
                    {"id": new_id(), "org_id": org_id, "contact_id": cid, "kind": "withdrawn",
                     "at": now, "source": source, "detail": detail}
                    for cid in rows
                ],
            )
            changed.extend(rows)
    return changed


def contact_ids_by_email(engine: Engine, org_id: str, emails: Iterable[str]) -> dict[str, list[int]]:
    """Live contact ids of `org_id` keyed by `address_key` of the email (for Mailchimp-side events).

    The stored side is matched trimmed of ASCII spaces and lower-cased in SQL."""
    wanted = sorted({address_key(e) for e in emails if e})
    found: dict[str, list[int]] = {}
    with engine.connect() as conn:
        for start in range(0, len(wanted), 1000):
            part = wanted[start:start + 1000]
            rows = conn.execute(
                sa.select(contacts.c.id, sa.func.lower(sa.func.trim(contacts.c.email))).where(
                    contacts.c.org_id == org_id, contacts.c.deleted_at.is_(None),
                    sa.func.lower(sa.func.trim(contacts.c.email)).in_(part),
                )
            )
            for cid, email in rows:
                found.setdefault(email, []).append(int(cid))
    return found


def contact_email(engine: Engine, org_id: str, contact_id: int) -> tuple[bool, str | None]:
    """Whether the contact exists in the org (soft-deleted ones included), and its address
    (`normalize_address`; None when empty)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(contacts.c.email).where(
            contacts.c.org_id == org_id, contacts.c.id == contact_id)).first()
    if row is None:
        return False, None
    return True, normalize_address(row.email or "") or None
