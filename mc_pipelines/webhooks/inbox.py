"""Storing webhook events idempotently and acting on them under the member lifecycle contract,
exactly as the pull does (LIFECYCLE A5, A6, B8, B9): an opt-out the project did not make
withdraws consent, a re-subscribe after an opt-out gives it back, an address changed on the
profile page moves the member's state."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from mc_pipelines.effects.consent import OPT_OUT, RESUBSCRIBE, MailchimpChange, apply_changes
from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.store import member_state
from mc_pipelines.store.clock import new_id, utcnow
from mc_pipelines.store.db import is_postgres
from mc_pipelines.store.tables import mailchimp_webhook_events as events_table
from mc_pipelines.sync import lifecycle as lc
from mc_pipelines.sync.pull_plan import PULLED_COLUMNS
from mc_pipelines.webhooks.events import WebhookEvent

# the member status each event type reports
EVENT_STATUS = {"unsubscribe": lc.UNSUBSCRIBED, "cleaned": lc.CLEANED, "subscribe": lc.SUBSCRIBED}


@dataclass
class Recorded:
    """What recording one delivery did."""

    new: bool
    consent_withdrawn: list[int] = field(default_factory=list)
    consent_given: list[int] = field(default_factory=list)
    moved: bool = False


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
    if processed_at is None:
        _act(engine, org_id, event, result)
        with engine.begin() as conn:
            conn.execute(events_table.update().where(key).values(processed_at=utcnow()))
    return result


def _act(engine: Engine, org_id: str, event: WebhookEvent, result: Recorded) -> None:
    audience = event.list_id or ""
    if event.type == "upemail":
        old, new = event.data.get("old_email") or "", event.data.get("new_email") or ""
        if audience and old and new and member_state.lifecycle_rows(
                engine, org_id, audience, [subscriber_hash(old)], ["status"]):
            member_state.follow_move(engine, org_id, audience, subscriber_hash(old),
                                     subscriber_hash(new), new.strip(), utcnow())
            result.moved = True
        return
    status = EVENT_STATUS.get(event.type)
    if status is None or not event.email:
        return
    h = subscriber_hash(event.email)
    previous = member_state.lifecycle_rows(engine, org_id, audience, [h], PULLED_COLUMNS).get(h)
    reason = event.data.get("reason") or event.data.get("action") or ""
    detail = f"{event.type} webhook from audience {audience} ({reason})".replace(" ()", "")
    if previous is None:  # not tracked: an opt-out still withdraws consent (A5)
        kind = OPT_OUT if status in lc.OPTED_OUT else None
    else:
        outcome = lc.after_pull(previous, status, utcnow(), event.fired_at)
        member_state.update_existing(engine, org_id, audience, {h: outcome.values})
        kind = OPT_OUT if outcome.opted_out else RESUBSCRIBE if outcome.resubscribed else None
    if kind is None:
        return
    consent = apply_changes(engine, org_id, [MailchimpChange(event.email, kind, event.fired_at, detail)])
    result.consent_withdrawn, result.consent_given = consent.withdrawn, consent.given
