"""Test data for the application database: orgs, contacts, segments, connections to the emulator."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine

from mc_pipelines.actions.connections import connect_org
from mc_pipelines.store.tables import consent_events, contact_segments, contacts, orgs

T0 = datetime(2026, 5, 1, 12, 0, 0)
TEST_FERNET_KEY = Fernet.generate_key().decode()


def add_org(engine: Engine, org_id: str, name: str | None = None) -> None:
    """Insert an org."""
    with engine.begin() as conn:
        conn.execute(orgs.insert().values(id=org_id, name=name or org_id.title(), created_at=T0))


def contact_row(org_id: str, cid: int, email: str | None, **overrides: Any) -> dict[str, Any]:
    """A contact row with sensible defaults (consent on, customer, no tags)."""
    row = {
        "id": cid, "org_id": org_id, "email": email, "first_name": f"First{cid}", "last_name": f"Last{cid}",
        "phone": None, "contact_type": "customer", "department": None, "location": None,
        "employment_type": None, "employment_status": None, "marketing_consent": True, "tags": [],
        "created_at": T0, "updated_at": T0 + timedelta(seconds=cid % 1000), "deleted_at": None,
    }
    row.update(overrides)
    return row


def add_contacts(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Insert contact rows."""
    with engine.begin() as conn:
        for start in range(0, len(rows), 2000):
            conn.execute(contacts.insert(), rows[start:start + 2000])


def update_contact(engine: Engine, org_id: str, cid: int, **values: Any) -> None:
    """Change a contact the way the application would (bumping updated_at)."""
    values.setdefault("updated_at", datetime.now().replace(microsecond=0))
    with engine.begin() as conn:
        conn.execute(contacts.update().where(contacts.c.org_id == org_id, contacts.c.id == cid).values(**values))


def add_segment(engine: Engine, org_id: str, sid: int, tag: str, filters: dict, *,
                segment_type: str = "mixed", audience_id: str | None = None) -> None:
    """Insert a segment managing `tag`."""
    with engine.begin() as conn:
        conn.execute(contact_segments.insert().values(
            id=sid, org_id=org_id, name=f"Segment {sid}", segment_type=segment_type, filters=filters,
            audience_id=audience_id, mailchimp_tag=tag, status="pending"))


def connect_to_emulator(engine: Engine, emulator, org_id: str, *, dc: str = "us1",
                        merge_fields: dict[str, str] | None = None) -> dict[str, str]:
    """Create an emulator account + audience and connect the org to it; returns key and audience."""
    account = emulator.create_account(account_name=f"{org_id} account", dc=dc)
    audience = emulator.create_list(account["api_key"], name=f"{org_id} audience")
    connect_org(engine, org_id, account["api_key"], audience, actor="test",
                base_url_template=emulator.base_url_template, merge_fields=merge_fields)
    return {"api_key": account["api_key"], "audience_id": audience}


def seed_org(engine: Engine, emulator, org_id: str, emails: list[str], first_id: int = 1) -> dict[str, str]:
    """An org with one consenting contact per email (ids from `first_id`), connected to a new
    emulator account; returns the account's api_key and audience_id."""
    add_org(engine, org_id)
    add_contacts(engine, [contact_row(org_id, first_id + i, e) for i, e in enumerate(emails)])
    return connect_to_emulator(engine, emulator, org_id)


def consent_rows(engine: Engine, org_id: str) -> list[dict[str, Any]]:
    """The org's consent events, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(consent_events).where(consent_events.c.org_id == org_id)
                            .order_by(consent_events.c.at, consent_events.c.contact_id))
        return [dict(r._mapping) for r in rows]


def consent_of(engine: Engine, org_id: str) -> dict[int, bool]:
    """marketing_consent per contact id of the org."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(contacts.c.id, contacts.c.marketing_consent)
                                 .where(contacts.c.org_id == org_id)).tuples().all())
