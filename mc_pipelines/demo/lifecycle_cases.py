"""The member lifecycle contract at work in the demo, one line each in the summary:
a re-consent undoing the project's own unsubscribe, a member a marketer archived left alone, and
the mass-unsubscribe guard holding back a mass deletion until an operator overrides it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.store.clock import new_id, utcnow
from mc_pipelines.store.tables import consent_events, contacts

RunSync = Callable[..., dict[str, dict[str, Any]]]


def _member(server, api_key: str, audience_id: str, email: str) -> dict[str, Any]:
    url = f"{server.api_url('us6')}/lists/{audience_id}/members/{subscriber_hash(email)}"
    response = httpx.get(url, auth=("demo", api_key), timeout=10)
    response.raise_for_status()
    return response.json()


def _subscribed_contact(engine: Engine, server, org, skip: int = 0) -> tuple[int, str]:
    """A contact of the org whose member is subscribed in the default audience."""
    subscribed = {m["email_address"].lower() for m in server.dump_list(org.api_key, org.audience_id)
                  if m["status"] == "subscribed"}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(contacts.c.id, contacts.c.email).where(
            contacts.c.org_id == org.org_id, contacts.c.deleted_at.is_(None),
            contacts.c.marketing_consent.is_(True)).order_by(contacts.c.id)).all()
    found = [(int(cid), email.strip()) for cid, email in rows if email and email.strip().lower() in subscribed]
    return found[skip]


def _set_consent(engine: Engine, org_id: str, cid: int, given: bool) -> None:
    with engine.begin() as conn:
        conn.execute(contacts.update().where(contacts.c.org_id == org_id, contacts.c.id == cid)
                     .values(marketing_consent=given, updated_at=utcnow()))
        conn.execute(consent_events.insert().values(
            id=new_id(), org_id=org_id, contact_id=cid, kind="given" if given else "withdrawn",
            at=utcnow(), source="demo", detail="the contact's preference in the app"))


def reconsent(engine: Engine, server, org, run_sync: RunSync) -> str:
    """Consent withdrawn in the app → unsubscribed; given again → subscribed again (A3, A7)."""
    cid, email = _subscribed_contact(engine, server, org, skip=1)
    _set_consent(engine, org.org_id, cid, False)
    run_sync(org.org_id)
    after_withdrawal = _member(server, org.api_key, org.audience_id, email)["status"]
    _set_consent(engine, org.org_id, cid, True)
    meta = run_sync(org.org_id).get("audience_sync", {})
    again = _member(server, org.api_key, org.audience_id, email)["status"]
    return (f"re-consent: contact {cid} withdrew consent in the app → {after_withdrawal}; gave it "
            f"again → {again} (re-subscribed {meta.get('resubscribed', 0)}: the project's own "
            f"unsubscribe is undone)")


def archived_left_alone(engine: Engine, server, org, run_sync: RunSync) -> str:
    """A marketer archives a member in Mailchimp: never un-archived or re-added (B6)."""
    cid, email = _subscribed_contact(engine, server, org, skip=2)
    url = f"{server.api_url('us6')}/lists/{org.audience_id}/members/{subscriber_hash(email)}"
    httpx.delete(url, auth=("marketer", org.api_key), timeout=10).raise_for_status()
    with engine.begin() as conn:  # the app changes the contact's name: a field update is due
        conn.execute(contacts.update().where(contacts.c.org_id == org.org_id, contacts.c.id == cid)
                     .values(first_name="Renamed", updated_at=utcnow()))
    meta = run_sync(org.org_id).get("audience_sync", {})
    status = _member(server, org.api_key, org.audience_id, email)["status"]
    return (f"archived by a marketer: contact {cid} stays {status} after the next sync "
            f"(skipped as archived: {meta.get('skipped[archived]', 0)})")


def guard_holds(engine: Engine, server, org, run_sync: RunSync) -> str:
    """A mass deletion in the app: the guard holds the unsubscribes until an operator overrides."""
    with engine.connect() as conn:
        ids = conn.execute(sa.select(contacts.c.id).where(
            contacts.c.org_id == org.org_id, contacts.c.deleted_at.is_(None),
            contacts.c.marketing_consent.is_(True)).order_by(contacts.c.id)).scalars().all()
    victims = ids[: max(len(ids) * 3 // 10, 60)]
    with engine.begin() as conn:
        conn.execute(contacts.update().where(contacts.c.org_id == org.org_id,
                                             contacts.c.id.in_(victims)).values(deleted_at=utcnow()))
    try:
        held = run_sync(org.org_id, allow_failure=True).get("audience_sync", {})
        subscribed = sum(1 for m in server.dump_list(org.api_key, org.audience_id)
                         if m["status"] == "subscribed")
    finally:  # the demo's data set stays as seeded
        with engine.begin() as conn:
            conn.execute(contacts.update().where(contacts.c.org_id == org.org_id,
                                                 contacts.c.id.in_(victims)).values(deleted_at=None))
    return (f"mass-unsubscribe guard: {len(victims)} contacts deleted at once in {org.org_id} → "
            f"{held.get('skipped[mass_unsubscribe_guard]', 0)} unsubscribes held back, check "
            f"mass_unsubscribe_guard failed, {subscribed} members still subscribed "
            f"(an operator re-runs with allow_mass_unsubscribe to send them)")
