"""Reading the application's contacts and writing back consent changes (audited)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.mailchimp.addresses import address_key, normalize_address
from mc_pipelines.store.clock import new_id, utcnow
from mc_pipelines.store.frames import read_frame
from mc_pipelines.store.tables import audit_log, consent_events, contacts

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
    engine: Engine, org_id: str, contact_ids: Iterable[int], *, source: str, detail: str,
    actor: str | None = None,
) -> list[int]:
    """Set marketing_consent off for these contacts of `org_id` (live or soft-deleted), with a
    consent event and an audit row for each contact whose consent was on (stamped with the time
    the project records it, so the trail keeps its order). Returns the ids actually changed
    (idempotent)."""
    return _set_consent(engine, org_id, contact_ids, given=False, source=source, detail=detail,
                        actor=actor or source)


def give_consent(
    engine: Engine, org_id: str, contact_ids: Iterable[int], *, source: str, detail: str,
    actor: str | None = None,
) -> list[int]:
    """Set marketing_consent on for these contacts (a consent event and an audit row for each
    contact whose consent was off). Returns the ids actually changed (idempotent)."""
    return _set_consent(engine, org_id, contact_ids, given=True, source=source, detail=detail,
                        actor=actor or source)


def _set_consent(engine: Engine, org_id: str, contact_ids: Iterable[int], *, given: bool,
                 source: str, detail: str, actor: str) -> list[int]:
    ids = sorted({int(i) for i in contact_ids})
    if not ids:
        return []
    changed: list[int] = []
    now = utcnow()
    kind = "given" if given else "withdrawn"
    with engine.begin() as conn:
        for start in range(0, len(ids), 1000):
            part = ids[start:start + 1000]
            rows = conn.execute(
                sa.select(contacts.c.id).where(
                    contacts.c.org_id == org_id, contacts.c.id.in_(part),
                    contacts.c.marketing_consent.is_(not given),
                )
            ).scalars().all()
            if not rows:
                continue
            conn.execute(
                contacts.update()
                .where(contacts.c.org_id == org_id, contacts.c.id.in_(rows))
                .values(marketing_consent=given, updated_at=now)
            )
            conn.execute(
                consent_events.insert(),
                [
                    {"id": new_id(), "org_id": org_id, "contact_id": cid, "kind": kind,
                     "at": now, "source": source, "detail": detail}
                    for cid in rows
                ],
            )
            conn.execute(audit_log.insert(), [
                {"id": new_id(), "org_id": org_id, "at": now, "actor": actor,
                 "action": f"consent_{kind}",
                 "detail": {"contact_id": int(cid), "source": source}}
                for cid in rows
            ])
            changed.extend(rows)
    return changed


def latest_consent_changes(engine: Engine, org_id: str, contact_ids: Iterable[int], *,
                           exclude_source: str | None = None) -> dict[int, tuple[str, datetime]]:
    """The latest consent event (`kind`, `at`) of each given contact that has one (ignoring
    events of `exclude_source`)."""
    ids = sorted({int(i) for i in contact_ids})
    found: dict[int, tuple[str, datetime]] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 1000):
            rows = conn.execute(
                sa.select(consent_events.c.contact_id, consent_events.c.kind, consent_events.c.at)
                .where(consent_events.c.org_id == org_id,
                       consent_events.c.contact_id.in_(ids[start:start + 1000]),
                       sa.true() if exclude_source is None else consent_events.c.source != exclude_source)
                .order_by(consent_events.c.at)
            )
            for cid, kind, at in rows:
                found[int(cid)] = (kind, at)  # ordered by time: the last one wins
    return found


def contact_ids_by_address(engine: Engine, org_id: str,
                           emails: Iterable[str]) -> dict[str, list[int]]:
    """Every contact of `org_id` (live or soft-deleted) per address, matched after the cohort's
    normalisation (every Unicode space and zero-width character trimmed, case folded), so a stored
    address with a stray tab or no-break space still matches (LIFECYCLE A5). Keyed by the
    normalised, lower-cased address."""
    wanted = {key for e in emails if isinstance(e, str) and (key := address_key(e))}
    found: dict[str, list[int]] = {}
    if not wanted:
        return found
    query = sa.select(contacts.c.id, contacts.c.email).where(contacts.c.org_id == org_id)
    if len(wanted) <= _LIKE_LIMIT:  # few addresses: a LIKE each, exact match in Python
        query = query.where(sa.or_(*[sa.func.lower(contacts.c.email).contains(w, autoescape=True)
                                     for w in sorted(wanted)]))
    with engine.connect() as conn:
        for cid, email in conn.execute(query):
            key = address_key(email) if email else None
            if key in wanted:
                found.setdefault(key, []).append(int(cid))
    return found


def withdrawn_live_contacts(engine: Engine, org_id: str) -> list[tuple[int, str]]:
    """(id, email) of the org's live contacts without consent that withdrew it at some point (a
    `withdrawn` consent event): the records whose withdrawal may be the latest consent change of
    an address another live record still consents with (LIFECYCLE A4)."""
    withdrew = sa.select(consent_events.c.contact_id).where(
        consent_events.c.org_id == org_id, consent_events.c.kind == "withdrawn")
    query = sa.select(contacts.c.id, contacts.c.email).where(
        contacts.c.org_id == org_id, contacts.c.deleted_at.is_(None),
        contacts.c.marketing_consent.is_(False), contacts.c.email.is_not(None),
        contacts.c.id.in_(withdrew))
    with engine.connect() as conn:
        return [(int(cid), str(email)) for cid, email in conn.execute(query)]


_LIKE_LIMIT = 50


def consent_flags(engine: Engine, org_id: str,
                  contact_ids: Iterable[int]) -> dict[int, tuple[bool, bool]]:
    """(marketing_consent, deleted) of each given contact of the org that exists."""
    ids = sorted({int(i) for i in contact_ids})
    found: dict[int, tuple[bool, bool]] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 1000):
            rows = conn.execute(sa.select(
                contacts.c.id, contacts.c.marketing_consent, contacts.c.deleted_at,
            ).where(contacts.c.org_id == org_id, contacts.c.id.in_(ids[start:start + 1000])))
            for cid, consent, deleted_at in rows:
                found[int(cid)] = (bool(consent), deleted_at is not None)
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
