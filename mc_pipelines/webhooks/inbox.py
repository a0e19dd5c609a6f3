"""Storing webhook events idempotently and acting on consent-withdrawing ones."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from mc_pipelines.mailchimp.addresses import address_key
from mc_pipelines.store.clock import new_id, utcnow
from mc_pipelines.store.contacts import contact_ids_by_email, withdraw_consent
from mc_pipelines.store.db import is_postgres
from mc_pipelines.store.tables import mailchimp_webhook_events as events_table
from mc_pipelines.webhooks.events import CONSENT_WITHDRAWING, WebhookEvent

WEBHOOK_SOURCE = "mailchimp_webhook"


@dataclass
class Recorded:
    """What recording one delivery did."""

    new: bool
    consent_withdrawn: list[int] = field(default_factory=list)


def record_event(engine: Engine, org_id: str, event: WebhookEvent) -> Recorded:
    """Insert the event unless its dedupe key is already stored for the org, then act on it once.

    Unsubscribes and cleaned addresses withdraw consent (source `mailchimp_webhook`). The action
    is keyed on `processed_at`, not on the insert, so a delivery that was stored but not acted on
    (a crash in between) is acted on when Mailchimp retries it.
    """
    insert = pg_insert if is_postgres(engine) else sqlite_insert
    stmt = insert(events_table).values(
        id=new_id(), org_id=org_id, audience_id=event.list_id, dedupe_key=event.dedupe_key,
        event_type=event.type, fired_at=event.fired_at, email=event.email,
        payload={"type": event.type, "fired_at": event.fired_at.isoformat(sep=" "), "data": event.data},
        received_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["org_id", "dedupe_key"]).returning(events_table.c.id)
    key = (events_table.c.org_id == org_id) & (events_table.c.dedupe_key == event.dedupe_key)
    with engine.begin() as conn:
        new = conn.execute(stmt).first() is not None
        processed_at = conn.execute(sa.select(events_table.c.processed_at).where(key)).scalar_one()
    result = Recorded(new=new)
    if event.type in CONSENT_WITHDRAWING and processed_at is None:
        ids = contact_ids_by_email(engine, org_id, [event.email or ""]).get(address_key(event.email or ""), [])
        reason = event.data.get("reason") or event.data.get("action") or ""
        result.consent_withdrawn = withdraw_consent(
            engine, org_id, ids, source=WEBHOOK_SOURCE,
            detail=f"{event.type} webhook from audience {event.list_id} ({reason})".replace(" ()", ""),
        )
        with engine.begin() as conn:
            conn.execute(events_table.update().where(key).values(processed_at=utcnow()))
    return result
