"""Consent, property-based, against the real push and pull and the emulator.

Each generated case is a small org (1-5 contacts drawn from an address pool with case variants
and duplicates, consent on or off, tags, departments, two segments) synced once, then taken
through 1-4 steps, each followed by a sync: consent given or withdrawn in the application, an
address changed, tags or department changed (segment moves), a contact deleted or added, a
segment's filter changed, a Mailchimp-side unsubscribe (by the contact or an admin) or a clean
(bounce), or consent given again in the application to contacts who opted out in Mailchimp.
After every sync, and for every batch-subscribe request the push sends:

- no contact without consent is ever subscribed: no request sends `subscribed` for an address
  without a consenting live contact at the start of the run, and after the run no member is
  subscribed unless such a contact exists;
- no member who opted out in Mailchimp is ever re-subscribed: no request sends `subscribed` for
  them, they stay unsubscribed/cleaned, and their contacts' consent is withdrawn;
- withdrawn consent always ends unsubscribed: after the run every member without a consenting
  contact is unsubscribed or cleaned.

Two suites share the model: `test_consent_properties_push_pull` (200 cases) runs the pull and
push functions the assets call (same order, no Dagster) on SQLite; `..._dagster_assets` (12
cases) materializes the real asset graph with Dagster on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mc_pipelines.assets.common import org_audiences
from mc_pipelines.effects.pull import pull_member_status
from mc_pipelines.effects.push import push_audience, tags_by_hash
from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.store import tables
from mc_pipelines.store.connections import require_active_connection, save_connection
from mc_pipelines.store.contacts import read_live_contacts
from mc_pipelines.store.db import create_db_engine
from mc_pipelines.store.member_state import load_state
from mc_pipelines.store.migrations import migrate
from mc_pipelines.store.secrets import encrypt_secret
from mc_pipelines.store.segments import active_segments
from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines.sync.diff import diff_audience
from mc_pipelines.sync.segments import evaluate_segments
from mc_pipelines_tests.support.app_data import (
    T0,
    add_contacts,
    add_org,
    add_segment,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.dagster_runs import resources_for
from mc_pipelines_tests.support.reliability import run_sync
from mc_pipelines_tests.support.secret_scan import scanned_instance

EMAILS = ["ana@posteo.de", "Ana@Posteo.de", " ana@posteo.de ", "ben@web.de", "cy@fastmail.com",
          "dee@proton.me", "BEN@WEB.DE", "eve@mailbox.org"]
TAGS = ["vip", "beta"]
DEPARTMENTS = ["Sales", "Ops"]
FILTERS = [{"tags": ["vip"]}, {"department": "sales"}, {"tags": ["beta"], "department": "ops"}, {}]
EVENTS = ["unsubscribe", "admin_unsubscribe", "cleaned"]
PUSH_PULL_CASES = 200
DAGSTER_CASES = 12

contact_st = st.tuples(st.integers(0, len(EMAILS) - 1), st.booleans(),
                       st.lists(st.sampled_from(TAGS), unique=True, max_size=2),
                       st.sampled_from(DEPARTMENTS))
step_st = st.one_of(
    st.tuples(st.just("consent"), st.integers(0, 9), st.booleans()),
    st.tuples(st.just("email"), st.integers(0, 9), st.integers(0, len(EMAILS) - 1)),
    st.tuples(st.just("tags"), st.integers(0, 9), st.lists(st.sampled_from(TAGS), unique=True, max_size=2)),
    st.tuples(st.just("department"), st.integers(0, 9), st.sampled_from(DEPARTMENTS)),
    st.tuples(st.just("delete"), st.integers(0, 9)),
    st.tuples(st.just("add"), contact_st),
    st.tuples(st.just("segment"), st.integers(0, 1), st.sampled_from(FILTERS)),
    st.tuples(st.just("mailchimp"), st.integers(0, 9), st.sampled_from(EVENTS)),
    st.tuples(st.just("mailchimp"), st.integers(0, 9), st.sampled_from(EVENTS)),  # twice: more opt-outs
    st.tuples(st.just("reconsent"),),  # the application gives consent again to whoever opted out
)
case_st = st.tuples(st.lists(contact_st, min_size=1, max_size=5), st.lists(step_st, min_size=1, max_size=4))
_org_ids = itertools.count(1)


def _key(email: str) -> str:
    return email.strip().lower()


@dataclass
class Model:
    """One generated org and what the checks need to remember across its runs."""

    engine: sa.Engine
    emulator: object
    org_id: str
    api_key: str = ""
    audience_id: str = ""
    ids: list[int] = field(default_factory=list)
    opted_out: set[str] = field(default_factory=set)  # addresses that opted out in Mailchimp
    just_opted_out: set[str] = field(default_factory=set)  # … since the last run
    sent: list[tuple[str, str]] = field(default_factory=list)  # (email, status) of every request row
    clock: datetime = T0

    def tick(self) -> datetime:
        self.clock += timedelta(minutes=1)
        return self.clock

    def setup(self, contacts: list[tuple]) -> None:
        add_org(self.engine, self.org_id)
        rows = []
        for email_i, consent, tags, department in contacts:
            rows.append(self._row(email_i, consent, tags, department))
        add_contacts(self.engine, rows)
        add_segment(self.engine, self.org_id, self._sid(0), "app:first", FILTERS[0])
        add_segment(self.engine, self.org_id, self._sid(1), "app:second", FILTERS[1], segment_type="mixed")
        if self.api_key:  # an account shared by the cases of a test: a new audience, stored directly
            self.audience_id = self.emulator.create_list(self.api_key, name=self.org_id)
            save_connection(self.engine, org_id=self.org_id, api_key_encrypted=encrypt_secret(self.api_key),
                            server_prefix=self.api_key.rpartition("-")[2], audience_id=self.audience_id,
                            account_name="consent", auto_sync=False, actor="test")
        else:  # the way an operator connects (key and audience checked with Mailchimp)
            conn = connect_to_emulator(self.engine, self.emulator, self.org_id)
            self.api_key, self.audience_id = conn["api_key"], conn["audience_id"]

    def _sid(self, i: int) -> int:
        return int(self.org_id.rsplit("-", 1)[1]) * 10 + i

    def _row(self, email_i: int, consent: bool, tags: list[str], department: str) -> dict:
        cid = int(self.org_id.rsplit("-", 1)[1]) * 100 + len(self.ids)
        self.ids.append(cid)
        return contact_row(self.org_id, cid, EMAILS[email_i], marketing_consent=consent, tags=tags,
                           department=department, updated_at=self.tick())

    def _update(self, index: int, **values) -> None:
        cid = self.ids[index % len(self.ids)]
        c = tables.contacts
        with self.engine.begin() as conn:
            conn.execute(c.update().where(c.c.id == cid).values(updated_at=self.tick(), **values))

    def apply(self, step: tuple) -> None:
        kind = step[0]
        event(f"step: {kind}")
        if kind == "consent":
            self._update(step[1], marketing_consent=step[2])
        elif kind == "email":
            self._update(step[1], email=EMAILS[step[2]])
        elif kind == "tags":
            self._update(step[1], tags=step[2])
        elif kind == "department":
            self._update(step[1], department=step[2])
        elif kind == "delete":
            self._update(step[1], deleted_at=self.clock)
        elif kind == "add":
            add_contacts(self.engine, [self._row(*step[1])])
        elif kind == "segment":
            s = tables.contact_segments
            with self.engine.begin() as conn:
                conn.execute(s.update().where(s.c.id == self._sid(step[1])).values(filters=step[2]))
        elif kind == "reconsent":
            c = tables.contacts
            with self.engine.begin() as conn:
                for cid in self.ids:
                    email = conn.execute(sa.select(c.c.email).where(c.c.id == cid)).scalar_one()
                    if email and _key(email) in self.opted_out:
                        conn.execute(c.update().where(c.c.id == cid).values(
                            marketing_consent=True, updated_at=self.tick()))
        elif kind == "mailchimp":
            cid = self.ids[step[1] % len(self.ids)]
            c = tables.contacts
            with self.engine.connect() as conn:
                email = conn.execute(sa.select(c.c.email).where(c.c.id == cid)).scalar_one()
            member = self.members().get(_key(email))
            if member is not None and member["status"] in ("subscribed", "pending"):
                self.emulator.member_event(self.api_key, self.audience_id, subscriber_hash(_key(email)), step[2])
                self.opted_out.add(_key(email))
                self.just_opted_out.add(_key(email))

    # -- observations --------------------------------------------------------------------------
    def members(self) -> dict[str, dict]:
        return {m["email_address"].lower(): m for m in self.emulator.dump_list(self.api_key, self.audience_id)}

    def consenting(self) -> set[str]:
        """Addresses of live contacts with consent (as the cohort would read them)."""
        c = tables.contacts
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.c.email).where(
                c.c.org_id == self.org_id, c.c.deleted_at.is_(None), c.c.marketing_consent.is_(True)))
            return {_key(e) for (e,) in rows if e}

    def consent_by_email(self) -> dict[str, list[bool]]:
        c = tables.contacts
        out: dict[str, list[bool]] = {}
        with self.engine.connect() as conn:
            for email, consent in conn.execute(sa.select(c.c.email, c.c.marketing_consent).where(
                    c.c.org_id == self.org_id, c.c.deleted_at.is_(None))):
                out.setdefault(_key(email), []).append(bool(consent))
        return out

    # -- the properties --------------------------------------------------------------------------
    def check_run(self, consenting_at_start: set[str]) -> None:
        for email, status in self.sent:
            if status == "subscribed":
                assert _key(email) in consenting_at_start, f"sent subscribed for {email} without consent"
                assert _key(email) not in self.opted_out, f"re-subscribed {email}, who opted out in Mailchimp"
        self.sent.clear()
        members = self.members()
        consenting = self.consenting()
        consent = self.consent_by_email()
        for email, member in members.items():
            if member["status"] in ("subscribed", "pending"):
                assert email in consenting, f"{email} is {member['status']} without a consenting contact"
            if email not in consenting:  # withdrawn consent (or deleted contact) ends unsubscribed
                assert member["status"] in ("unsubscribed", "cleaned"), f"{email} is {member['status']}"
        for email in self.opted_out:
            assert members[email]["status"] in ("unsubscribed", "cleaned"), f"{email} was re-subscribed"
            if email in consenting:
                event("consent given again in the application after a Mailchimp-side opt-out")
        for email in self.just_opted_out:  # the pull withdrew the consent of its contacts
            assert not any(consent.get(email, [])), f"{email} opted out in Mailchimp but kept consent"
        self.just_opted_out.clear()


@contextlib.contextmanager
def recording(model: Model):
    """Record every member row the push sends with batch subscribe."""
    original = MailchimpClient.batch_subscribe

    async def spy(self, list_id, members, **kwargs):
        model.sent.extend((m["email_address"], m["status"]) for m in members)
        return await original(self, list_id, members, **kwargs)

    MailchimpClient.batch_subscribe = spy
    try:
        yield
    finally:
        MailchimpClient.batch_subscribe = original


async def push_pull_sync(model: Model, client: MailchimpClient) -> None:
    """What the sync assets do, in their order, without Dagster: pull, cohort, segments and
    desired state, diff against the state, push (one client for all the runs of a case)."""
    engine, org_id = model.engine, model.org_id
    connection = require_active_connection(engine, org_id)
    segments = active_segments(engine, org_id)
    audiences = org_audiences(connection, segments)
    await pull_member_status(client, engine, org_id, audiences)
    cohort = build_cohort(read_live_contacts(engine, org_id)).cohort
    desired = evaluate_segments(cohort, active_segments(engine, org_id), connection.audience_id).desired
    state = load_state(engine, org_id)
    for audience in audiences:
        current = state[state["audience_id"] == audience]
        plan = diff_audience(desired[desired["audience_id"] == audience], current)
        await push_audience(client, engine, org_id, audience, plan, tags_by_hash(current))


async def _run_push_pull_case(model: Model, contacts, steps) -> None:
    model.setup(contacts)
    resource = resources_for(model.engine, model.emulator)["mailchimp"]
    connection = require_active_connection(model.engine, model.org_id)

    with recording(model):
        async with resource.client_for(connection) as client:
            for step in [None, *steps]:
                if step is not None:
                    model.apply(step)
                consenting = model.consenting()
                await push_pull_sync(model, client)
                model.check_run(consenting)


def _run_dagster_case(model: Model, contacts, steps, instance) -> None:
    model.setup(contacts)
    with recording(model):
        for step in [None, *steps]:
            if step is not None:
                model.apply(step)
            consenting = model.consenting()
            result = run_sync(instance, model.org_id, model.engine, model.emulator)
            assert result.success
            model.check_run(consenting)


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory):
    engine = create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('consent') / 'app.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def shared_account(process_emulator) -> str:
    return process_emulator.create_account("consent cases")["api_key"]


@settings(max_examples=PUSH_PULL_CASES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=case_st)
@pytest.mark.anyio
async def test_consent_properties_push_pull(sqlite_engine, process_emulator, shared_account, case):
    contacts, steps = case
    model = Model(sqlite_engine, process_emulator, f"consent-{next(_org_ids)}", api_key=shared_account)
    await _run_push_pull_case(model, contacts, steps)


@settings(max_examples=DAGSTER_CASES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=st.tuples(st.lists(contact_st, min_size=2, max_size=5), st.lists(step_st, min_size=2, max_size=3)))
def test_consent_properties_dagster_assets(pg_app_engine, process_emulator, case):
    contacts, steps = case
    model = Model(pg_app_engine, process_emulator, f"dconsent-{next(_org_ids)}")
    with scanned_instance() as instance:
        _run_dagster_case(model, contacts, steps, instance)


@pytest.mark.anyio
async def test_the_property_checks_catch_a_consent_breach(sqlite_engine, process_emulator):
    """The checks fail when a member is subscribed without consent, when an opted-out member is
    re-subscribed, and when a request sends `subscribed` without consent."""
    model = Model(sqlite_engine, process_emulator, f"breach-{next(_org_ids)}")
    await _run_push_pull_case(model, [(3, True, [], "Sales"), (4, False, [], "Ops")], [])
    # Mailchimp holds a subscribed member whose contact never consented
    process_emulator.bulk_load(model.api_key, model.audience_id, [{"email_address": "cy@fastmail.com"}])
    with pytest.raises(AssertionError, match="without a consenting contact"):
        model.check_run(model.consenting())
    model.opted_out.add("ben@web.de")
    with pytest.raises(AssertionError):
        model.check_run({"ben@web.de"})
    model.sent.append(("dee@proton.me", "subscribed"))
    with pytest.raises(AssertionError, match="without consent"):
        model.check_run(set())
