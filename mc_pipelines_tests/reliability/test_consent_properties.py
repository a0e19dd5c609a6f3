"""Consent (LIFECYCLE A, B), property-based, against the real read-back, plan, push and
pull and the emulator.

Each generated case is a small org (1-5 contacts drawn from an address pool with case variants
and duplicates, consent on or off, tags, departments, two segments) whose audience may already
hold members before the project's first run (0-3 of them, subscribed, unsubscribed, pending or
cleaned, with a marketer's tag): pre-existing members matching a contact are *linked*, the others
*foreign*. The org is synced once, then taken through 1-4 steps, each followed by a sync; a
*scenario* step is two or three sub-steps with a sync after each:

- single steps: consent given or withdrawn in the application, an address changed, tags or
  department changed (segment moves), a contact deleted or added, a segment's filter changed, a
  Mailchimp-side unsubscribe (by the contact or an admin) or clean (bounce), a marketer archiving
  a member;
- `unsub_reconsent` (A7): the application withdraws an address's consent (the project
  unsubscribes it), then gives it again;
- `optout_reconsent` (A8): the person opts out in Mailchimp (the pull withdraws consent), then
  the application gives consent again (a newer `given` event);
- `optout_resubscribe` (A6): the person opts out in Mailchimp, then subscribes again on a form.

Each case records (hypothesis `event`) which of these it really exercised; run with
`--hypothesis-show-statistics` for the shares. After every sync, for every status the push sends
(batch subscribe rows and status PATCHes through `/batches`) and for every member:

- never subscribed without consent (A1, A2): no request sends `subscribed` or `pending` for an
  address without a consenting live contact at the start of the run; no member the project
  created or re-subscribed is subscribed afterwards without one;
- a Mailchimp-side opt-out is never re-subscribed (A5, A8): no request sends `subscribed` for it,
  and `pending` only when the application gave consent again after the opt-out and the address
  was not cleaned; its contacts' consent is withdrawn (source `mailchimp`, live or deleted);
- re-consent after a project-made unsubscribe re-subscribes (A7); a Mailchimp-side re-subscribe
  gives consent back and is not undone (A6);
- withdrawn consent ends unsubscribed (A3, B3), for project-created and linked members alike;
- foreign and archived members are never touched (B4, B6): status, fields, tags and
  `last_changed` as they were; pending members are never flipped to subscribed (B7); a linked
  member's status is never changed but to honour a withdrawal or by the A8 route, and the tags it
  had before are never removed (B2, D2);
- the consent trail has no `mailchimp` withdrawal for an address that never opted out in
  Mailchimp (B8).

Two suites share the model: `test_consent_properties_push_pull` (40 cases by default, `MC_CONSENT_CASES` for more) runs the functions
the assets call (pull, cohort, segments, `sync_org`: read-back, plan, push; no Dagster) on SQLite;
`..._dagster_assets` (12 cases) materializes the real asset graph with Dagster on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from mc_pipelines.effects.audience_sync import SyncSettings, sync_org
from mc_pipelines.effects.pull import pull_member_status
from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.store import contacts as contact_store
from mc_pipelines.store import member_state, tables
from mc_pipelines.store.connections import require_active_connection, save_connection
from mc_pipelines.store.contacts import CONTACT_COLUMNS, read_live_contacts
from mc_pipelines.store.db import create_db_engine
from mc_pipelines.store.migrations import migrate
from mc_pipelines.store.secrets import encrypt_secret
from mc_pipelines.store.segments import active_segments, org_audiences
from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines.sync.scope import sync_scope
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
FOREIGN = ["zoe@gmx.de", "yan@t-online.de"]  # never a contact's address
TAGS = ["vip", "beta"]
DEPARTMENTS = ["Sales", "Ops"]
FILTERS = [{"tags": ["vip"]}, {"department": "sales"}, {"tags": ["beta"], "department": "ops"}, {}]
EVENTS = ["unsubscribe", "admin_unsubscribe", "cleaned"]
PREEXISTING_STATUSES = ["subscribed", "subscribed", "unsubscribed", "pending", "cleaned"]
MAILABLE = ("subscribed", "pending")
OPTED_OUT = ("unsubscribed", "cleaned")
CREATE = "create (subscribed, update_existing false)"
# 40 cases by default (under a minute); MC_CONSENT_CASES=500 for a longer hunt
PUSH_PULL_CASES = int(os.environ.get("MC_CONSENT_CASES", "40"))
DAGSTER_CASES = int(os.environ.get("MC_CONSENT_CASES", "40")) // 7 + 1  # 6 by default
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]  # no explain

contact_st = st.tuples(st.integers(0, len(EMAILS) - 1), st.booleans(),
                       st.lists(st.sampled_from(TAGS), unique=True, max_size=2),
                       st.sampled_from(DEPARTMENTS))
# (address: an EMAILS index, or -1/-2 for a foreign one; status; carries a marketer tag)
preexisting_st = st.tuples(st.integers(-len(FOREIGN), len(EMAILS) - 1),
                           st.sampled_from(PREEXISTING_STATUSES), st.booleans())
single_step_st = st.one_of(
    st.tuples(st.just("consent"), st.integers(0, 9), st.booleans()),
    st.tuples(st.just("email"), st.integers(0, 9), st.integers(0, len(EMAILS) - 1)),
    st.tuples(st.just("tags"), st.integers(0, 9), st.lists(st.sampled_from(TAGS), unique=True, max_size=2)),
    st.tuples(st.just("department"), st.integers(0, 9), st.sampled_from(DEPARTMENTS)),
    st.tuples(st.just("delete"), st.integers(0, 9)),
    st.tuples(st.just("add"), contact_st),
    st.tuples(st.just("segment"), st.integers(0, 1), st.sampled_from(FILTERS)),
    st.tuples(st.just("mailchimp"), st.integers(0, 9), st.sampled_from(EVENTS)),
    st.tuples(st.just("archive"), st.integers(0, 9)),
)
scenario_st = st.one_of(
    st.tuples(st.just("unsub_reconsent"), st.integers(0, 9)),
    st.tuples(st.just("optout_reconsent"), st.integers(0, 9), st.sampled_from(EVENTS)),
    st.tuples(st.just("optout_resubscribe"), st.integers(0, 9),
              st.sampled_from(["unsubscribe", "admin_unsubscribe"])),
)
# scenarios as often as single steps: each re-consent kind lands in a large share of cases
step_st = st.one_of(single_step_st, scenario_st)
case_st = st.tuples(st.lists(contact_st, min_size=1, max_size=5),
                    st.lists(preexisting_st, max_size=3, unique_by=lambda p: p[0]),
                    st.lists(step_st, min_size=1, max_size=4))
_org_ids = itertools.count(1)


def _event(label: str) -> None:
    """A hypothesis statistics event (ignored outside a generated case)."""
    if currently_in_test_context():
        event(label)


def _key(email: str) -> str:
    return email.strip().lower()


def _hash(email: str) -> str:
    return subscriber_hash(_key(email))


def _expand(step: tuple) -> list[tuple]:
    """A scenario as its sub-steps (a sync follows each); a single step as itself."""
    kind = step[0]
    if kind == "unsub_reconsent":
        return [("withdraw_address", step[1]), ("reconsent_unsubscribed",)]
    if kind == "optout_reconsent":
        return [("mailchimp", step[1], step[2]), ("reconsent_opted_out",)]
    if kind == "optout_resubscribe":
        return [("mailchimp", step[1], step[2]), ("mc_resubscribe",)]
    return [step]


@dataclass
class Model:
    """One generated org and what the checks need to remember across its runs (by address key)."""

    engine: sa.Engine
    emulator: object
    org_id: str
    api_key: str = ""
    audience_id: str = ""
    ids: list[int] = field(default_factory=list)
    opted_out: dict[str, str] = field(default_factory=dict)  # Mailchimp-side opt-outs → status
    opted_out_at: dict[str, datetime] = field(default_factory=dict)
    ever_opted_out: set[str] = field(default_factory=set)
    just_opted_out: set[str] = field(default_factory=set)    # … since the last run
    reconsented: set[str] = field(default_factory=set)       # app consent given after the opt-out
    expect_resubscribed: set[str] = field(default_factory=set)  # A7 due on the next run
    # members the project unsubscribed while they were still to confirm a double opt-in (B3 of a
    # pending linked member): a re-consent asks them to confirm again, never subscribes them (B7)
    unconfirmed: set[str] = field(default_factory=set)
    just_resubscribed: set[str] = field(default_factory=set)    # A6 since the last run
    resubscribed_at: dict[str, str] = field(default_factory=dict)
    linked: set[str] = field(default_factory=set)            # members the person or a marketer made
    prior_tags: dict[str, set[str]] = field(default_factory=dict)
    frozen: dict[str, dict] = field(default_factory=dict)    # foreign and archived: never touched
    addresses_of: dict[int, set[str]] = field(default_factory=dict)  # every address a contact had
    sent: list[tuple[str, str]] = field(default_factory=list)  # (subscriber hash, status) sent
    exercised: set[str] = field(default_factory=set)
    met: set[str] = field(default_factory=set)  # addresses that had consent at a run's start
    tracked: set[str] = field(default_factory=set)  # addresses with a member state row
    clock: datetime = T0

    def tick(self) -> datetime:
        self.clock += timedelta(minutes=1)
        return self.clock

    def setup(self, contacts: list[tuple], preexisting: list[tuple] = ()) -> None:
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
        self._preexisting(preexisting)

    def _preexisting(self, members: list[tuple]) -> None:
        loaded = {}
        for index, status, marketer in members:
            email = FOREIGN[-index - 1] if index < 0 else _key(EMAILS[index])
            loaded[email] = {"email_address": email, "status": status,
                             "merge_fields": {"FNAME": "Theirs"},
                             "tags": ["marketer:legacy"] if marketer else []}
        if not loaded:
            return
        self.emulator.bulk_load(self.api_key, self.audience_id, list(loaded.values()))
        members_now = self.members()
        for email, row in loaded.items():
            self.prior_tags[email] = set(row["tags"])
            if email in FOREIGN:
                self.frozen[email] = members_now[email]
                _event("case: foreign member")
                continue
            self.linked.add(email)
            _event("case: pre-existing member matching a contact (linked)")
            if row["status"] in OPTED_OUT:  # opted out before the project: Mailchimp-side
                self.opted_out[email] = row["status"]
                self.opted_out_at[email] = datetime.min
                self.ever_opted_out.add(email)
                self.just_opted_out.add(email)

    def _sid(self, i: int) -> int:
        return int(self.org_id.rsplit("-", 1)[1]) * 10 + i

    def _row(self, email_i: int, consent: bool, tags: list[str], department: str) -> dict:
        cid = int(self.org_id.rsplit("-", 1)[1]) * 100 + len(self.ids)
        self.ids.append(cid)
        self.addresses_of.setdefault(cid, set()).add(_key(EMAILS[email_i]))
        return contact_row(self.org_id, cid, EMAILS[email_i], marketing_consent=consent, tags=tags,
                           department=department, updated_at=self.tick())

    def _update(self, index: int, **values) -> None:
        cid = self.ids[index % len(self.ids)]
        c = tables.contacts
        with self.engine.begin() as conn:
            conn.execute(c.update().where(c.c.id == cid).values(updated_at=self.tick(), **values))

    def _contacts_of(self, email: str, *, live: bool = True) -> list[int]:
        c = tables.contacts
        query = sa.select(c.c.id, c.c.email).where(c.c.org_id == self.org_id)
        if live:
            query = query.where(c.c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            return [cid for cid, e in conn.execute(query) if e and _key(e) == email]

    def _email_of(self, index: int) -> str | None:
        cid = self.ids[index % len(self.ids)]
        c = tables.contacts
        with self.engine.connect() as conn:
            email = conn.execute(sa.select(c.c.email).where(c.c.id == cid)).scalar_one()
        return _key(email) if email else None

    def _pick_member(self, index: int, statuses: tuple[str, ...], *, tracked: bool = False) -> str | None:
        """An address of a contact whose member has one of `statuses` (the index-th of them;
        `tracked`: only members the project tracks)."""
        members = self.members()
        keys = sorted({_key(EMAILS[i]) for i in range(len(EMAILS))} & {
            e for e, m in members.items() if m["status"] in statuses and e not in self.frozen})
        if tracked:
            keys = [k for k in keys if k in self._tracked()]
        keys = [k for k in keys if self._contacts_of(k, live=False)]
        return keys[index % len(keys)] if keys else None

    def apply(self, step: tuple) -> None:
        kind = step[0]
        _event(f"step: {kind}")
        if kind == "consent":
            cid = self.ids[step[1] % len(self.ids)]
            changed = (contact_store.give_consent if step[2] else contact_store.withdraw_consent)(
                self.engine, self.org_id, [cid], source="app", detail="test")
            email = self._email_of(step[1])
            if changed and step[2] and email in self.opted_out:  # a newer `given` event (A8, A9)
                self.reconsented.add(email)
                self.exercised.add(f"re-consent after a Mailchimp-side opt-out ({self.opted_out[email]})")
        elif kind == "email":
            self._update(step[1], email=EMAILS[step[2]])
            cid, email = self.ids[step[1] % len(self.ids)], _key(EMAILS[step[2]])
            self.addresses_of[cid].add(email)
            given = self._latest_given(cid)
            if email in self.opted_out and given is not None and given > self.opted_out_at[email]:
                # the contact's own consent is newer than the address's opt-out (A9, A8)
                self.reconsented.add(email)
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
        elif kind == "mailchimp":
            email = self._pick_member(step[1], MAILABLE)
            if email is not None:
                self.emulator.member_event(self.api_key, self.audience_id, _hash(email), step[2])
                status = "cleaned" if step[2] == "cleaned" else "unsubscribed"
                self.opted_out[email] = status
                self.opted_out_at[email] = datetime.now(UTC).replace(tzinfo=None)
                self.ever_opted_out.add(email)
                self.just_opted_out.add(email)
                self.reconsented.discard(email)
                self.unconfirmed.discard(email)  # the person's own opt-out now stands
                self.exercised.add(f"Mailchimp-side opt-out ({status})")
        elif kind == "archive":
            # a member the project tracks (an archived member it never met is re-added by a create:
            # see test_an_archived_member_the_project_never_met_is_not_re_added)
            email = self._pick_member(step[1], ("subscribed", "unsubscribed", "pending", "cleaned"),
                                      tracked=True)
            if email is not None:
                self.emulator.member_event(self.api_key, self.audience_id, _hash(email), "archive")
                self.frozen[email] = self.members()[email]
                self.exercised.add("archived member")
        elif kind == "withdraw_address":
            email = self._pick_member(step[1], MAILABLE)
            ids = self._contacts_of(email) if email else []
            if ids:
                contact_store.withdraw_consent(self.engine, self.org_id, ids, source="app", detail="test")
        elif kind == "reconsent_unsubscribed":
            # consent given again to addresses the project unsubscribed (not Mailchimp-side)
            members = self.members()
            for email, member in members.items():
                if (member["status"] == "unsubscribed" and email not in self.opted_out
                        and email not in self.frozen):
                    ids = self._contacts_of(email)
                    if ids:
                        contact_store.give_consent(self.engine, self.org_id, ids, source="app", detail="test")
                        self.expect_resubscribed.add(email)
                        self.exercised.add("re-consent after a project-made unsubscribe")
        elif kind == "reconsent_opted_out":
            members = self.members()
            for email in sorted(self.opted_out):
                ids = self._contacts_of(email)
                if ids and email not in self.frozen and email in members:
                    contact_store.give_consent(self.engine, self.org_id, ids, source="app", detail="test")
                    self.reconsented.add(email)
                    self.exercised.add(f"re-consent after a Mailchimp-side opt-out ({self.opted_out[email]})")
        elif kind == "mc_resubscribe":
            members = self.members()
            for email in sorted(e for e, s in self.opted_out.items() if s == "unsubscribed"):
                if email in members and email not in self.frozen:
                    self.emulator.member_event(self.api_key, self.audience_id, _hash(email), "subscribe")
                    self.resubscribed_at[email] = self.members()[email]["last_changed"]
                    del self.opted_out[email]
                    self.reconsented.discard(email)
                    self.linked.add(email)  # the person's subscription, not the project's
                    self.just_resubscribed.add(email)
                    self.exercised.add("Mailchimp-side re-subscribe")

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

    def consent_by_email(self, *, live: bool = True) -> dict[str, list[bool]]:
        c = tables.contacts
        query = sa.select(c.c.email, c.c.marketing_consent).where(c.c.org_id == self.org_id)
        if live:
            query = query.where(c.c.deleted_at.is_(None))
        out: dict[str, list[bool]] = {}
        with self.engine.connect() as conn:
            for email, consent in conn.execute(query):
                if email:
                    out.setdefault(_key(email), []).append(bool(consent))
        return out

    def mailchimp_withdrawals(self) -> list[int]:
        e = tables.consent_events
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(e.c.contact_id).where(
                e.c.org_id == self.org_id, e.c.source == "mailchimp", e.c.kind == "withdrawn")).scalars())

    # -- the properties --------------------------------------------------------------------------
    def check_run(self, consenting_at_start: set[str], before: dict[str, dict]) -> None:
        by_hash = {_hash(e): e for e in {*before, *consenting_at_start, *self.opted_out,
                                         *(a for s in self.addresses_of.values() for a in s)}}
        sent, self.sent = self.sent, []
        self.met |= consenting_at_start
        for h, status in sent:
            email = by_hash.get(h, h)
            assert status in (*MAILABLE, "unsubscribed", CREATE), f"sent status {status} for {email}"
            if status in (*MAILABLE, CREATE):
                assert email in consenting_at_start, f"sent {status} for {email} without consent"
            if status == CREATE:  # update_existing false: only an address the project does not
                # track may already be a member (refused, then read back: B5)
                assert email not in self.opted_out or email not in self.tracked, \
                    f"create sent for {email}, who opted out in Mailchimp"
            if status == "subscribed":
                assert email not in self.opted_out, f"re-subscribed {email}, who opted out in Mailchimp"
            if status == "pending" and email in self.unconfirmed and email in consenting_at_start:
                self.exercised.add("re-consent of a member unsubscribed before confirming: asked again")
            elif status == "pending":
                assert email in self.reconsented and self.opted_out.get(email) == "unsubscribed", \
                    f"asked {email} to confirm without consent given again after a Mailchimp-side opt-out"
            assert email not in self.frozen, f"wrote to {email}, a foreign or archived member"
        members = self.members()
        consenting = self.consenting()
        tracked_now = self._tracked()
        live = self.consent_by_email()
        every = self.consent_by_email(live=False)
        for email, frozen in self.frozen.items():  # B4, B6
            got = members.get(email)
            assert got is not None, f"{email} (foreign or archived) is gone"
            for key in ("status", "merge_fields", "tags", "last_changed"):
                assert got[key] == frozen[key], f"{email} (foreign or archived): {key} changed " \
                                                f"from {frozen[key]!r} to {got[key]!r}"
        for email, member in members.items():
            if email in self.frozen:
                continue
            was = before.get(email, {}).get("status")
            now = member["status"]
            if email in self.prior_tags:  # D2: tags it had before the project are never removed
                missing = self.prior_tags[email] - set(member["tags"])
                assert not missing, f"{email}: tags it had before the project were removed: {missing}"
            assert not (was == "pending" and now == "subscribed"), f"{email}: pending flipped to subscribed"
            if was == "pending" and now == "unsubscribed":
                self.unconfirmed.add(email)
            assert not (was == "cleaned" and now != "cleaned"), f"{email}: cleaned, now {now}"
            if now in MAILABLE and was != now:  # the project subscribed it in this run
                assert email in consenting_at_start, f"{email} became {now} without consent"
            if email in self.opted_out:  # A5, A8: never re-subscribed by the project
                allowed = OPTED_OUT + (("pending",) if email in self.reconsented
                                       and self.opted_out[email] == "unsubscribed" else ())
                assert now in allowed, f"{email} opted out in Mailchimp, now {now}"
                if email in self.reconsented and email in consenting and now == "pending":
                    self.exercised.add("A8 double opt-in requested")
            if email in self.linked and was is not None and was != now and email not in self.opted_out:
                # B2/B3: a linked member's status only changes to honour a withdrawal, or back
                # after the project's own unsubscribe (A7)
                withdrawal = now == "unsubscribed" and not all(every.get(email, [True]))
                reconsent = was == "unsubscribed" and email in consenting_at_start and now == (
                    "pending" if email in self.unconfirmed else "subscribed")
                assert withdrawal or reconsent, f"linked member {email}: status changed from {was} to {now}"
            if now in MAILABLE and email not in self.linked:
                assert email in consenting, f"{email} is {now} without a consenting contact"
            if email not in tracked_now:  # never the project's: never written (A2, B4)
                assert was is None or was == now, f"{email}: never consented, {was} became {now}"
                continue
            withdrawn = email in live and email not in consenting
            if (withdrawn or email not in live) and (email not in self.linked or withdrawn):
                # A3, B3: withdrawn consent (or a deleted contact of a project-made member) ends it
                assert now in OPTED_OUT, f"{email} is {now} after its consent ended"
        for email in self.expect_resubscribed:  # A7
            if email in self.unconfirmed:  # never confirmed: asked again (see `unconfirmed`)
                assert members[email]["status"] in ("pending", "unsubscribed"), \
                    f"{email}: unsubscribed before confirming, now {members[email]['status']}"
                continue
            if email in consenting and email not in self.opted_out and email not in self.frozen:
                assert members[email]["status"] == "subscribed", \
                    f"{email}: consent given again after the project's unsubscribe, still " \
                    f"{members[email]['status']}"
                self.exercised.add("A7 re-subscribed")
        self.expect_resubscribed.clear()
        for email in self.just_resubscribed:  # A6: consent given back, the run does not undo it
            late = self._withdrawn_since(email, self.resubscribed_at[email])
            # (unless the app withdrew consent in the same second: Mailchimp's times have second
            # precision, and such a race ends on the side of no consent)
            assert members[email]["status"] == "subscribed" or late, f"{email}: re-subscribe undone"
            if email in tracked_now:  # (a member the project does not track has no history)
                assert all(c or cid in late for cid, c in self._consent_of(email).items()), \
                    f"{email} re-subscribed in Mailchimp, consent not given"
                self.exercised.add("A6 consent given back")
        self.just_resubscribed.clear()
        for email in self.just_opted_out:  # A5: every record with the address, live or deleted
            assert not any(every.get(email, [])), f"{email} opted out in Mailchimp but kept consent"
        self.just_opted_out.clear()
        for cid in self.mailchimp_withdrawals():  # B8: no false Mailchimp-side withdrawal
            assert self.addresses_of.get(cid, set()) & self.ever_opted_out, \
                f"contact {cid}: consent withdrawn as a Mailchimp opt-out it never made"

        self.tracked = tracked_now

    def _tracked(self) -> set[str]:
        t = tables.mailchimp_member_state
        with self.engine.connect() as conn:
            return {_key(e) for e in conn.execute(sa.select(t.c.email).where(
                t.c.org_id == self.org_id)).scalars() if e}

    def _latest_given(self, cid: int) -> datetime | None:
        """When the application last gave the contact consent, if its latest change is a `given`."""
        e = tables.consent_events
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(e.c.kind, e.c.at).where(
                e.c.org_id == self.org_id, e.c.contact_id == cid, e.c.source != "mailchimp")
                .order_by(e.c.at.desc()).limit(1)).first()
        return row.at if row is not None and row.kind == "given" else None

    def _consent_of(self, email: str) -> dict[int, bool]:
        c = tables.contacts
        with self.engine.connect() as conn:
            return {cid: bool(consent) for cid, e, consent in conn.execute(
                sa.select(c.c.id, c.c.email, c.c.marketing_consent).where(c.c.org_id == self.org_id))
                if e and _key(e) == email}

    def _withdrawn_since(self, email: str, last_changed: str) -> set[int]:
        """Contacts with the address whose latest app consent change is a withdrawal in or after
        the second of `last_changed` (Mailchimp's times have second precision: such a race ends
        without consent, see `effects.consent`)."""
        at = datetime.fromisoformat(last_changed).astimezone(UTC).replace(tzinfo=None, microsecond=0)
        e = tables.consent_events
        ids = set(self._consent_of(email))
        latest: dict[int, tuple[datetime, str]] = {}
        with self.engine.connect() as conn:
            for cid, kind, when in conn.execute(sa.select(e.c.contact_id, e.c.kind, e.c.at).where(
                    e.c.org_id == self.org_id, e.c.source != "mailchimp")):
                if cid in ids and (cid not in latest or when > latest[cid][0]):
                    latest[cid] = (when, kind)
        return {cid for cid, (when, kind) in latest.items()
                if kind == "withdrawn" and when.replace(microsecond=0) >= at}

    def record_case(self) -> None:
        for kind in sorted(self.exercised):
            _event(f"exercised: {kind}")


@contextlib.contextmanager
def recording(model: Model):
    """Record every status the push sends: batch-subscribe rows and member PATCHes (`/batches`)."""
    original_subscribe = MailchimpClient.batch_subscribe
    original_batches = MailchimpClient.batch_operations

    async def spy_subscribe(self, list_id, members, **kwargs):
        model.sent.extend((_hash(m["email_address"]), CREATE if m["status"] == "subscribed"
                           and not kwargs.get("update_existing") else m["status"]) for m in members)
        return await original_subscribe(self, list_id, members, **kwargs)

    async def spy_batches(self, operations, **kwargs):
        for op in operations:
            body = json.loads(op.body) if op.body else {}
            if op.method in ("PATCH", "PUT", "POST") and "status" in body:
                model.sent.append((op.path.rsplit("/", 1)[1], body["status"]))
        return await original_batches(self, operations, **kwargs)

    MailchimpClient.batch_subscribe = spy_subscribe
    MailchimpClient.batch_operations = spy_batches
    try:
        yield
    finally:
        MailchimpClient.batch_subscribe = original_subscribe
        MailchimpClient.batch_operations = original_batches


async def push_pull_sync(model: Model, client: MailchimpClient) -> None:
    """What the sync assets do, in their order, without Dagster: pull, cohort, segments and
    desired state, then `sync_org` (read back, plan, push) over the org's scope."""
    engine, org_id = model.engine, model.org_id
    connection = require_active_connection(engine, org_id)
    segments = active_segments(engine, org_id)
    await pull_member_status(client, engine, org_id, org_audiences(connection, segments))
    cohort = build_cohort(read_live_contacts(engine, org_id)).cohort
    result = evaluate_segments(cohort, active_segments(engine, org_id), connection.audience_id)
    state = member_state.load_state(engine, org_id, columns=member_state.DIFF_COLUMNS)
    scope = sync_scope(connection.audience_id, result.summary, state["audience_id"].unique().tolist())
    settings = SyncSettings(existing_members=connection.existing_members, reconsent=connection.reconsent)
    outcomes = await sync_org(client, engine, org_id, result.desired, state, scope, settings,
                              connection.merge_fields or None, CONTACT_COLUMNS)
    assert not [o.error for o in outcomes if o.error], outcomes


async def _run_push_pull_case(model: Model, contacts, steps, preexisting=()) -> None:
    model.setup(contacts, preexisting)
    resource = resources_for(model.engine, model.emulator)["mailchimp"]
    connection = require_active_connection(model.engine, model.org_id)

    with recording(model):
        async with resource.client_for(connection) as client:
            for sub in [None, *(s for step in steps for s in _expand(step))]:
                if sub is not None:
                    model.apply(sub)
                consenting, before = model.consenting(), model.members()
                await push_pull_sync(model, client)
                model.check_run(consenting, before)
    model.record_case()


def _run_dagster_case(model: Model, contacts, steps, instance, preexisting=()) -> None:
    model.setup(contacts, preexisting)
    with recording(model):
        for sub in [None, *(s for step in steps for s in _expand(step))]:
            if sub is not None:
                model.apply(sub)
            consenting, before = model.consenting(), model.members()
            result = run_sync(instance, model.org_id, model.engine, model.emulator)
            assert result.success
            model.check_run(consenting, before)
    model.record_case()


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory):
    engine = create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('consent') / 'app.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def shared_account(process_emulator) -> str:
    return _Key(process_emulator.create_account("consent cases")["api_key"])


class _Key(str):
    """An API key that hypothesis can print in a failing case without leaking it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<the shared account key>'"


@settings(max_examples=PUSH_PULL_CASES, deadline=None, database=None, phases=PHASES,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=case_st)
@pytest.mark.timeout(1200)  # 200 cases of up to 9 syncs each
@pytest.mark.anyio
async def test_consent_properties_push_pull(sqlite_engine, process_emulator, shared_account, case):
    contacts, preexisting, steps = case
    model = Model(sqlite_engine, process_emulator, f"consent-{next(_org_ids)}", api_key=shared_account)
    await _run_push_pull_case(model, contacts, steps, preexisting)


@settings(max_examples=DAGSTER_CASES, deadline=None, database=None, phases=PHASES,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=st.tuples(st.lists(contact_st, min_size=2, max_size=5),
                     st.lists(preexisting_st, max_size=2, unique_by=lambda p: p[0]),
                     st.lists(step_st, min_size=2, max_size=3)))
def test_consent_properties_dagster_assets(pg_app_engine, process_emulator, case):
    contacts, preexisting, steps = case
    model = Model(pg_app_engine, process_emulator, f"dconsent-{next(_org_ids)}")
    with scanned_instance() as instance:
        _run_dagster_case(model, contacts, steps, instance, preexisting)


@pytest.mark.anyio
async def test_the_property_checks_catch_a_consent_breach(sqlite_engine, process_emulator):
    """The checks fail when a member is subscribed without consent, when an opted-out member is
    re-subscribed or asked to confirm without re-consent, when a request sends `subscribed`
    without consent, when a foreign member is touched, when a re-consent after the project's
    unsubscribe is not re-subscribed, and on a `mailchimp` withdrawal nobody made in Mailchimp."""
    model = Model(sqlite_engine, process_emulator, f"breach-{next(_org_ids)}")
    await _run_push_pull_case(model, [(3, True, [], "Sales"), (4, False, [], "Ops")], [],
                              [(-1, "subscribed", True)])
    key, aud = model.api_key, model.audience_id

    def check(consenting=None) -> None:
        model.check_run(model.consenting() if consenting is None else consenting, model.members())

    check()
    # Mailchimp holds a subscribed member whose contact never consented
    before = model.members()
    process_emulator.bulk_load(key, aud, [{"email_address": "cy@fastmail.com"}])
    with pytest.raises(AssertionError, match="without"):
        model.check_run(model.consenting(), before)
    process_emulator.member_event(key, aud, "cy@fastmail.com", "admin_unsubscribe")
    model.opted_out["ben@web.de"] = "unsubscribed"
    with pytest.raises(AssertionError, match="opted out in Mailchimp"):
        check({"ben@web.de"})
    model.sent.append((_hash("ben@web.de"), "subscribed"))
    with pytest.raises(AssertionError, match=r"re-subscribed ben@web\.de"):
        check({"ben@web.de"})
    model.sent.append((_hash("ben@web.de"), "pending"))
    with pytest.raises(AssertionError, match="to confirm without consent given again"):
        check({"ben@web.de"})
    del model.opted_out["ben@web.de"]
    model.sent.append((_hash("dee@proton.me"), "subscribed"))
    with pytest.raises(AssertionError, match="without consent"):
        check(set())
    model.sent.clear()
    # a foreign member touched
    process_emulator.tag_member(key, aud, _hash("zoe@gmx.de"), add=["intruder"])
    with pytest.raises(AssertionError, match=r"zoe@gmx\.de \(foreign or archived\): tags changed"):
        check()
    process_emulator.tag_member(key, aud, _hash("zoe@gmx.de"), remove=["intruder"])
    model.frozen["zoe@gmx.de"] = model.members()["zoe@gmx.de"]
    # consent given again after the project's unsubscribe, yet the member stays unsubscribed
    process_emulator.member_event(key, aud, "ben@web.de", "admin_unsubscribe")
    model.expect_resubscribed.add("ben@web.de")
    with pytest.raises(AssertionError, match="consent given again after the project's unsubscribe"):
        check()
    model.expect_resubscribed.clear()
    # a Mailchimp-side withdrawal for a contact whose address never opted out there (B8)
    contact_store.withdraw_consent(sqlite_engine, model.org_id, [model.ids[0]], source="mailchimp",
                                   detail="test")
    with pytest.raises(AssertionError, match="opt-out it never made"):
        check({"ben@web.de"})


@pytest.mark.anyio
async def test_an_archived_member_the_project_never_met_is_not_re_added(sqlite_engine, process_emulator):
    model = Model(sqlite_engine, process_emulator, f"archived-{next(_org_ids)}")
    await _run_push_pull_case(model, [(0, False, [], "Sales")], [], [(0, "subscribed", False)])
    process_emulator.member_event(model.api_key, model.audience_id, _hash("ana@posteo.de"), "archive")
    model.frozen["ana@posteo.de"] = model.members()["ana@posteo.de"]
    contact_store.give_consent(sqlite_engine, model.org_id, [model.ids[0]], source="app", detail="test")
    resource = resources_for(model.engine, model.emulator)["mailchimp"]
    connection = require_active_connection(model.engine, model.org_id)
    async with resource.client_for(connection) as client:
        await push_pull_sync(model, client)
    assert model.members()["ana@posteo.de"]["status"] == "archived"
