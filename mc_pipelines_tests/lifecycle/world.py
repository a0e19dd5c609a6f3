"""One org, its contacts and its Mailchimp account, driven as people drive them: the app changes
contacts and consent, people and marketers act in Mailchimp (the emulator's admin routes), and the
real Dagster sync graph runs between. Mailchimp's state is read from the outside, as a `GET` of the
member returns it; the app's state from its tables."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn
from dagster import AssetCheckEvaluation, DagsterInstance
from sqlalchemy.engine import Engine

from mc_pipelines.actions.erasure import erase_contact
from mc_pipelines.actions.webhook_secrets import WEBHOOK_PATH, generate_webhook_secret
from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.store.clock import new_id, utcnow
from mc_pipelines.store.tables import (
    audit_log,
    consent_events,
    contact_segments,
    contacts,
    mailchimp_connections,
    mailchimp_member_state,
    sync_errors,
)
from mc_pipelines.webhooks.app import create_app
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    add_segment,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.dagster_runs import (
    materialize_sync,
    metadata_of,
    resources_for,
    sync_outcome_of,
)

_ORG_IDS = itertools.count(1)


class World:
    """One org connected to its own emulator account (tests never share an account)."""

    def __init__(self, engine: Engine, emulator, instance: DagsterInstance, **connect: Any) -> None:
        self.engine, self.emulator, self.instance = engine, emulator, instance
        self.org_id = f"life{next(_ORG_IDS)}"
        add_org(engine, self.org_id)
        conn = connect_to_emulator(engine, emulator, self.org_id, **connect)
        self.api_key, self.audience_id = conn["api_key"], conn["audience_id"]
        self.last_result = None
        self._ids = itertools.count(1)
        self._stack = ExitStack()  # closed by the fixture: the webhook receiver, if started

    # -- the application ---------------------------------------------------------------------
    def add(self, email: str, *, consent: bool = True, **fields: Any) -> int:
        """A new contact (with a `given` consent event when it consents); returns its id."""
        cid = next(self._ids)
        add_contacts(self.engine, [contact_row(self.org_id, cid, email, marketing_consent=consent,
                                               **fields)])
        if consent:
            self._consent_event(cid, "given", "app")
        return cid

    def withdraw(self, cid: int, *, at: datetime | None = None) -> None:
        """The contact withdraws consent in the app."""
        self._set(cid, marketing_consent=False)
        self._consent_event(cid, "withdrawn", "app", at)

    def give(self, cid: int, *, at: datetime | None = None) -> None:
        """The contact gives consent (again) in the app."""
        self._set(cid, marketing_consent=True)
        self._consent_event(cid, "given", "app", at)

    def delete(self, cid: int) -> None:
        """The app soft-deletes the contact."""
        self._set(cid, deleted_at=utcnow())

    def restore(self, cid: int) -> None:
        """The app restores a soft-deleted contact."""
        self._set(cid, deleted_at=None)

    def change_email(self, cid: int, email: str) -> None:
        """The app changes the contact's address."""
        self._set(cid, email=email)

    def update(self, cid: int, **values: Any) -> None:
        """Any other change of the contact."""
        self._set(cid, **values)

    def segment(self, sid: int, tag: str, filters: dict, **kw: Any) -> None:
        """A segment managing `tag`."""
        add_segment(self.engine, self.org_id, sid, tag, filters, **kw)

    def update_segment(self, sid: int, **values: Any) -> None:
        """Change a segment (filters, audience_id, mailchimp_tag, deleted_at…)."""
        with self.engine.begin() as conn:
            conn.execute(contact_segments.update().where(
                contact_segments.c.org_id == self.org_id, contact_segments.c.id == sid).values(**values))

    def segment_status(self, sid: int) -> tuple[str, str | None]:
        """The segment's (status, last_error)."""
        with self.engine.connect() as conn:
            return tuple(conn.execute(sa.select(contact_segments.c.status, contact_segments.c.last_error)
                                      .where(contact_segments.c.org_id == self.org_id,
                                             contact_segments.c.id == sid)).one())

    def set_connection(self, **values: Any) -> None:
        """Change connection settings directly (options, audience)."""
        with self.engine.begin() as conn:
            conn.execute(mailchimp_connections.update()
                         .where(mailchimp_connections.c.org_id == self.org_id).values(**values))

    def _set(self, cid: int, **values: Any) -> None:
        values.setdefault("updated_at", utcnow())
        with self.engine.begin() as conn:
            conn.execute(contacts.update().where(contacts.c.org_id == self.org_id,
                                                 contacts.c.id == cid).values(**values))

    def _consent_event(self, cid: int, kind: str, source: str, at: datetime | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(consent_events.insert().values(
                id=new_id(), org_id=self.org_id, contact_id=cid, kind=kind, at=at or utcnow(),
                source=source, detail="test"))

    # -- the sync ----------------------------------------------------------------------------
    def sync(self, *, member_status: dict[str, Any] | None = None, raise_on_error: bool = True,
             **config: Any):
        """Run the real sync graph for the org (audience_sync config in `config`,
        mailchimp_member_status config in `member_status`, e.g. `{"full_refresh": True}`)."""
        self.last_result = materialize_sync(self.instance, self.org_id, self.engine, self.emulator,
                                            sync_config=config, status_config=member_status,
                                            raise_on_error=raise_on_error)
        return self.last_result

    def meta(self, asset: str = "audience_sync") -> dict[str, Any]:
        """Metadata of `asset` in the last sync (when the sync found the org settled and planned
        nothing, what it observed: the same counts and listed rows)."""
        if asset == "audience_sync":
            return sync_outcome_of(self.last_result)
        return metadata_of(self.last_result, asset)

    def check(self, name: str) -> AssetCheckEvaluation:
        """The evaluation of asset check `name` in the last sync."""
        found = [e for e in self.last_result.get_asset_check_evaluations() if e.check_name == name]
        assert len(found) == 1, f"check {name} evaluated {len(found)} times"
        return found[0]

    def erase(self, cid: int):
        """GDPR erasure of the contact (the operator action, over the real client)."""
        mailchimp = resources_for(self.engine, self.emulator)["mailchimp"]
        return erase_contact(self.engine, mailchimp.client_for, self.org_id, cid, actor="test")

    # -- Mailchimp, as a GET returns it ------------------------------------------------------
    def member(self, email: str, audience_id: str | None = None) -> dict[str, Any] | None:
        """`GET /lists/{id}/members/{hash}` over HTTP; None on 404."""
        url = f"{self.emulator.api_url()}/lists/{audience_id or self.audience_id}/members/{subscriber_hash(email.strip())}"
        response = httpx.get(url, auth=("any", self.api_key), timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def status(self, email: str, audience_id: str | None = None) -> str | None:
        """The member's status as Mailchimp returns it (None when Mailchimp does not hold it)."""
        member = self.member(email, audience_id)
        return None if member is None else member["status"]

    def tags(self, email: str, audience_id: str | None = None) -> set[str]:
        """The member's tag names."""
        member = self.member(email, audience_id)
        return set() if member is None else {t["name"] for t in member.get("tags") or []}

    def person(self, email: str, event: str, audience_id: str | None = None,
               **fields: Any) -> dict[str, Any]:
        """Someone acts in Mailchimp: `unsubscribe` (the person; `reason=`), `subscribe` (a
        signup form), `profile` (`email_address=`: the person changes address), `confirm`,
        `admin_unsubscribe` / `archive` (a marketer), `cleaned` (a bounce), `compliance_review`."""
        return self.emulator.member_event(self.api_key, audience_id or self.audience_id,
                                          email, event, **fields)

    def acts_and_moves(self, cid: int, email: str, event: str, new_email: str) -> int:
        """Between two runs the person or a marketer acts in Mailchimp (`event` on `email`) and
        the app changes the contact's address to `new_email`; returns the writes so far."""
        self.person(email, event)
        self.change_email(cid, new_email)
        return self.writes()

    def webhooks_to_receiver(self) -> str:
        """Serve the project's webhook receiver for the org and register it as the audience's
        webhook (person and marketer events); it stops with the world. Returns its URL."""
        return self._stack.enter_context(webhook_receiver(self))

    def await_webhooks(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until every webhook delivery the emulator started is done; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            deliveries = self.emulator.webhook_deliveries(self.api_key, self.audience_id)
            if (deliveries and all(d.get("done") for d in deliveries)) or time.monotonic() > deadline:
                return deliveries
            time.sleep(0.05)

    def close(self) -> None:
        """Stop what the world started (the webhook receiver)."""
        self._stack.close()

    def writes(self) -> int:
        """Write calls the account received so far."""
        return int(self.emulator.stats(self.api_key)["writes"])

    def new_audience(self, name: str = "Second audience") -> str:
        """Another audience in the same account."""
        return self.emulator.create_list(self.api_key, name=name)

    def preexisting(self, email: str, status: str = "subscribed", tags: list[str] | None = None,
                    audience_id: str | None = None) -> None:
        """A member that existed in Mailchimp before the project met the address."""
        self.emulator.bulk_load(self.api_key, audience_id or self.audience_id, [
            {"email_address": email, "status": status, "merge_fields": {}, "tags": tags or []}])

    # -- the app's state ---------------------------------------------------------------------
    def consent(self, cid: int) -> bool:
        """The contact's marketing consent."""
        with self.engine.connect() as conn:
            return bool(conn.execute(sa.select(contacts.c.marketing_consent).where(
                contacts.c.org_id == self.org_id, contacts.c.id == cid)).scalar_one())

    def trail(self, cid: int) -> list[tuple[str, str]]:
        """The contact's consent trail: (kind, source), oldest first."""
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                sa.select(consent_events.c.kind, consent_events.c.source)
                .where(consent_events.c.org_id == self.org_id, consent_events.c.contact_id == cid)
                .order_by(consent_events.c.at, consent_events.c.id))]

    def state(self, email: str, audience_id: str | None = None) -> dict[str, Any] | None:
        """The member's `mailchimp_member_state` row (None when the project does not track it)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(mailchimp_member_state).where(
                mailchimp_member_state.c.org_id == self.org_id,
                mailchimp_member_state.c.audience_id == (audience_id or self.audience_id),
                mailchimp_member_state.c.subscriber_hash == subscriber_hash(email.strip()))).first()
        return None if row is None else dict(row._mapping)

    def errors(self) -> list[dict[str, Any]]:
        """The org's `sync_errors` rows (every run), oldest first."""
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(sync_errors).where(sync_errors.c.org_id == self.org_id)
                .order_by(sync_errors.c.at))]

    def audit(self, action: str | None = None) -> list[dict[str, Any]]:
        """The org's audit rows (optionally one action)."""
        query = sa.select(audit_log).where(audit_log.c.org_id == self.org_id)
        if action:
            query = query.where(audit_log.c.action == action)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query.order_by(audit_log.c.at))]


def next_second() -> datetime:
    """The start of the next second: a consent given then is newer than an opt-out of this
    second (consent and opt-outs are compared to the second, A8/A9)."""
    return utcnow().replace(microsecond=0) + timedelta(seconds=1)


def earlier(seconds: int = 3600) -> datetime:
    """A time in the past (naive UTC), for consent events older than something."""
    return utcnow() - timedelta(seconds=seconds)


@contextmanager
def webhook_receiver(world: World) -> Iterator[str]:
    """The project's webhook receiver served over HTTP on loopback for the world's org, registered
    as the audience's webhook in the emulator (person and marketer events); yields its URL."""
    secret = generate_webhook_secret(world.engine, world.org_id, actor="test")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(world.engine), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}" + WEBHOOK_PATH.format(org_id=world.org_id, secret=secret)
    events = {e: True for e in ("subscribe", "unsubscribe", "profile", "cleaned", "upemail")}
    response = httpx.post(f"{world.emulator.api_url()}/lists/{world.audience_id}/webhooks",
                          auth=("any", world.api_key), timeout=10,
                          json={"url": url, "events": events,
                                "sources": {"user": True, "admin": True, "api": False}})
    response.raise_for_status()
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for_deliveries(world: World, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Wait until the emulator has finished `count` webhook deliveries for the audience."""
    deadline = time.monotonic() + timeout
    while True:
        done = [d for d in world.emulator.webhook_deliveries(world.api_key, world.audience_id) if d.get("done")]
        if len(done) >= count or time.monotonic() > deadline:
            return done
        time.sleep(0.05)
