"""Helpers of the reliability suite: generated orgs, an independent oracle of the audience a sync
must produce, comparison with the emulator's audience, DB snapshots and sync runs.

The oracle (`desired_audience`) deliberately re-derives the desired state from the application
tables with plain Python — consent gate, trimmed and validated email, dedupe on the lower-cased
address (latest update wins, then lowest id), segment filters, merge fields cut to 255
characters — instead of calling the project's `sync/` code, so a bug there cannot hide itself.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from dagster import RetryPolicy, materialize
from sqlalchemy.engine import Engine

from mc_pipelines.automation.run_config import sync_run_config
from mc_pipelines.partitions import ORG_PARTITIONS_NAME
from mc_pipelines.store import tables
from mc_pipelines.sync import lifecycle as lc
from mc_pipelines_tests.support.app_data import T0, add_segment, contact_row
from mc_pipelines_tests.support.dagster_runs import (
    SYNC_ASSETS,
    resources_for,
    sync_outcome_of,
)

FAULTS = {"error_rate": 0.10, "throttle_rate": 0.05, "drop_rate": 0.02}
MERGE_TAGS = ("FNAME", "LNAME", "PHONE")
DEPARTMENTS = ("Sales", "Ops", "R&D", "Support")
LOCATIONS = ("Berlin", "Paris", "Lisbon")
APP_TAGS = ("vip", "beta", "newsletter")
DOMAINS = ("mailbox.org", "posteo.de", "fastmail.com", "proton.me", "web.de")
FIRST = ("Ana", "Ben", "Chloé", "Dai", "Emre", "Fatou", "Gus", "Hana", "Ivo", "Jun")
LAST = ("Silva", "Okafor", "Müller", "Tanaka", "Kowalski", "Nguyen", "Rossi", "Haddad")
# (segment id offset, tag, filters, segment_type)
STANDARD_SEGMENTS = (
    (1, "app:vip", {"tags": ["vip"]}, "mixed"),
    (2, "app:sales-staff", {"department": "sales"}, "employee"),
    (3, "app:berlin-lisbon", {"location": ["Berlin", "LISBON "]}, "mixed"),
    (4, "app:beta-news", {"tags": ["beta", "Newsletter"]}, "customer"),
)
SCALAR_FILTERS = ("department", "location", "employment_type", "employment_status")
_EMAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                    r"@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_SPACE_LIKE = re.compile(r"[\t\n\r\x0b\x0c]+")


# -- generated application data ----------------------------------------------------------------

def generated_contacts(org_id: str, n: int, *, base: int, seed: int, consent_rate: float = 0.9,
                       duplicate_every: int = 250) -> list[dict[str, Any]]:
    """`n` varied contacts of `org_id` (ids `base`…), deterministic for `seed`; every
    `duplicate_every`-th contact reuses an earlier address in another case."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        cid = base + i
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first.lower().replace('é', 'e')}.{last.lower().replace('ü', 'ue')}{cid}@{rng.choice(DOMAINS)}"
        if duplicate_every and i and i % duplicate_every == 0:
            email = rows[rng.randrange(i)]["email"].upper()
        rows.append(contact_row(
            org_id, cid, email, first_name=first, last_name=f"{last}-{cid}",
            phone=f"+49 30 {cid:07d}" if rng.random() < 0.5 else None,
            contact_type=rng.choice(("customer", "employee", "vendor")),
            department=rng.choice(DEPARTMENTS), location=rng.choice(LOCATIONS),
            marketing_consent=rng.random() < consent_rate,
            tags=sorted(rng.sample(APP_TAGS, rng.randint(0, 2))),
            updated_at=T0 + timedelta(seconds=rng.randrange(100_000)),
        ))
    return rows


def add_standard_segments(engine: Engine, org_id: str, base: int) -> None:
    """The four segments of `STANDARD_SEGMENTS` (ids `base + offset`)."""
    for offset, tag, filters, segment_type in STANDARD_SEGMENTS:
        add_segment(engine, org_id, base + offset, tag, filters, segment_type=segment_type)


# -- the oracle ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Member:
    """What the audience must hold for one address."""

    email: str
    contact_id: int
    merge_fields: dict[str, str]
    tags: frozenset[str]


def _clean(value: Any) -> str:
    if value is None:
        return ""
    text = _CONTROL.sub("", _SPACE_LIKE.sub(" ", str(value)))
    return text[:255]


def _segment_matches(segment: dict[str, Any], contact: dict[str, Any]) -> bool:
    seg_type = segment["segment_type"] or "mixed"
    if seg_type != "mixed" and contact["contact_type"] != seg_type:
        return False
    for name, value in (segment["filters"] or {}).items():
        if value in (None, []):
            continue
        values = value if isinstance(value, list) else [value]
        if name == "tags":
            have = {str(t).strip().casefold() for t in contact["tags"] or []}
            if not all(str(v).strip().casefold() in have for v in values):
                return False
        else:
            mine = contact.get(name)
            if not isinstance(mine, str) or mine.strip().casefold() not in {
                    str(v).strip().casefold() for v in values}:
                return False
    return True


def _segment_is_valid(segment: dict[str, Any]) -> bool:
    filters = segment["filters"]
    if not isinstance(filters, dict) or any(k not in (*SCALAR_FILTERS, "tags") for k in filters):
        return False
    return bool((segment["mailchimp_tag"] or "").strip())


def desired_audience(engine: Engine, org_id: str) -> dict[str, Member]:
    """Lower-cased address → what the org's default audience must hold for it."""
    c, s = tables.contacts, tables.contact_segments
    with engine.connect() as conn:
        contacts = [dict(r._mapping) for r in conn.execute(
            sa.select(c).where(c.c.org_id == org_id, c.c.deleted_at.is_(None)))]
        segments = [dict(r._mapping) for r in conn.execute(
            sa.select(s).where(s.c.org_id == org_id, s.c.deleted_at.is_(None)))]
    segments = [seg for seg in segments if _segment_is_valid(seg) and not seg["audience_id"]]
    contacts.sort(key=lambda r: (-r["updated_at"].timestamp(), r["id"]))
    out: dict[str, Member] = {}
    for row in contacts:
        if not row["marketing_consent"]:
            continue
        email = (row["email"] or "").strip(" \t\n\r\u00a0\u200b\ufeff")
        if not _EMAIL.fullmatch(email) or len(email) > 254 or not email.isascii():
            continue
        key = email.lower()
        if key in out:
            continue
        out[key] = Member(
            email=email, contact_id=row["id"],
            merge_fields={"FNAME": _clean(row["first_name"]), "LNAME": _clean(row["last_name"]),
                          "PHONE": _clean(row["phone"])},
            tags=frozenset(seg["mailchimp_tag"].strip() for seg in segments
                           if _segment_matches(seg, row)),
        )
    return out


# -- the emulator's side -------------------------------------------------------------------------

def audience(emulator, api_key: str, audience_id: str) -> dict[str, dict[str, Any]]:
    """The emulator's audience by lower-cased address; fails if any address is held twice."""
    members = emulator.dump_list(api_key, audience_id)
    by_email: dict[str, dict[str, Any]] = {}
    for m in members:
        key = m["email_address"].lower()
        assert key not in by_email, f"{key} is held twice in the audience"
        by_email[key] = m
    assert len({m["subscriber_hash"] for m in members}) == len(members), "a subscriber hash is doubled"
    return by_email


def static_segment_names(emulator, api_key: str, audience_id: str) -> list[str]:
    """Names of the audience's tags (static segments), read through the API (faults must be
    cleared first)."""
    dc = api_key.rpartition("-")[2]
    resp = emulator.http.get(f"{emulator.api_url(dc)}/lists/{audience_id}/segments",
                             params={"type": "static", "count": 1000}, auth=("check", api_key))
    resp.raise_for_status()
    return [s["name"] for s in resp.json()["segments"]]


@dataclass
class Expectation:
    """The exact audience after a sync: desired members subscribed with their fields and managed
    tags; `left` (addresses the project pushed that are no longer desired) unsubscribed or
    cleaned without managed tags; `untouched` (foreign) members exactly as they were; marketer
    tags kept.

    `linked`: members that existed before the project and match a contact (LIFECYCLE B2), as they
    were before the project's first run: while desired, their fields are the desired ones, their
    status is the one they had, the tags they had are kept and the managed tags applied; when they
    leave, their managed tags go and their status stays, unless they are in `withdrawn` (the app
    withdrew consent: unsubscribed, B3)."""

    desired: dict[str, Member]
    left: set[str] = field(default_factory=set)
    untouched: dict[str, dict[str, Any]] = field(default_factory=dict)
    marketer_tags: dict[str, set[str]] = field(default_factory=dict)
    mailchimp_side: dict[str, str] = field(default_factory=dict)  # email → status set in Mailchimp
    linked: dict[str, dict[str, Any]] = field(default_factory=dict)
    withdrawn: set[str] = field(default_factory=set)
    moved: set[str] = field(default_factory=set)  # old addresses changed in place (B10): gone

    def status_of(self, email: str, default: str) -> str:
        """The status `email` must have (`default`: a project-created member's)."""
        if email in self.mailchimp_side:
            return self.mailchimp_side[email]
        if email in self.linked and email not in self.withdrawn:
            return self.linked[email]["status"]
        return default

    def kept_tags(self, email: str) -> set[str]:
        """Tags that are not the project's to remove: a marketer's, and a linked member's own."""
        return self.marketer_tags.get(email, set()) | set(self.linked.get(email, {}).get("tags", ()))


def differences(expected: Expectation, actual: dict[str, dict[str, Any]]) -> list[str]:
    """Every way `actual` (from `audience`) differs from `expected`; empty when exact."""
    problems: list[str] = []
    desired = {k: v for k, v in expected.desired.items() if k not in expected.untouched}
    wanted = (set(desired) | expected.left | set(expected.untouched)) - expected.moved
    for email in sorted(set(actual) - wanted):
        problems.append(f"{email}: in Mailchimp but not expected ({actual[email]['status']})")
    for email in sorted(wanted - set(actual)):
        problems.append(f"{email}: missing from Mailchimp")
    for email, member in sorted(desired.items()):
        got = actual.get(email)
        if got is None:
            continue
        status = expected.status_of(email, "subscribed")
        if got["status"] != status:
            problems.append(f"{email}: status {got['status']}, expected {status}")
        fields = {t: got["merge_fields"].get(t, "") for t in MERGE_TAGS}
        if fields != member.merge_fields:
            problems.append(f"{email}: merge fields {fields}, expected {member.merge_fields}")
        tags = set(member.tags) | expected.kept_tags(email)
        if set(got["tags"]) != tags or len(got["tags"]) != len(tags):
            problems.append(f"{email}: tags {sorted(got['tags'])}, expected {sorted(tags)}")
    for email in sorted(expected.left - set(desired) - expected.moved):
        got = actual.get(email)
        if got is None:
            continue
        status = expected.status_of(email, "unsubscribed")
        if got["status"] != status:
            problems.append(f"{email}: left the audience; status {got['status']}, expected {status}")
        if set(got["tags"]) != expected.kept_tags(email):
            problems.append(f"{email}: left with tags {sorted(got['tags'])}, expected only the "
                            f"marketer's {sorted(expected.kept_tags(email))}")
    for email, before in sorted(expected.untouched.items()):
        got = actual.get(email)
        if got is not None:
            for key in ("status", "merge_fields", "tags", "last_changed"):
                if got[key] != before[key]:
                    problems.append(f"{email}: not the project's member, yet its {key} changed "
                                    f"from {before[key]!r} to {got[key]!r}")
    return problems


# -- database snapshots ---------------------------------------------------------------------------

ORG_TABLES = ("orgs", "contacts", "consent_events", "mailchimp_connections", "contact_segments",
              "campaign_tracking", "sync_requests", "mailchimp_member_state", "sync_runs",
              "sync_errors", "audit_log", "mailchimp_pull_cursors", "mailchimp_webhook_events")


def snapshot(engine: Engine, org_id: str) -> dict[str, list[tuple]]:
    """Every row of `org_id` in every application table, sorted (for before/after equality)."""
    out: dict[str, list[tuple]] = {}
    with engine.connect() as conn:
        for name in ORG_TABLES:
            table = tables.metadata.tables[name]
            column = table.c.id if name == "orgs" else table.c.org_id
            rows = conn.execute(sa.select(table).where(column == org_id)).all()
            out[name] = sorted(tuple(repr(v) for v in r) for r in rows)
    return out


def table_counts(engine: Engine) -> dict[str, int]:
    """Row count of every application table."""
    with engine.connect() as conn:
        return {name: conn.execute(sa.select(sa.func.count()).select_from(tables.metadata.tables[name])).scalar_one()
                for name in ORG_TABLES}


def state_rows(engine: Engine, org_id: str) -> list[dict[str, Any]]:
    """The org's `mailchimp_member_state` rows."""
    t = tables.mailchimp_member_state
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(t).where(t.c.org_id == org_id))]


def state_untruths(engine: Engine, org_id: str, held: dict[str, dict[str, Any]]) -> list[str]:
    """What the project's state claims about the members it owns that Mailchimp (`held`, the
    audience by address as `audience` returns it) does not bear out: a settled row (no intent)
    of a created or linked member whose member is not there, or holds another status.

    A member the state wrongly believes held is never created for a consenting contact (A1),
    and its exits write to nobody; a wrong status is the diff's base for B1 and A7/A8."""
    untrue = []
    for row in state_rows(engine, org_id):
        if row["intent"] is not None or row["ownership"] not in lc.OWNED:
            continue
        if row["status"] in (lc.ABSENT, lc.UNKNOWN):
            continue
        member = held.get(str(row["email"]).lower())
        if member is None:
            untrue.append(f"{row['email']}: state says {row['ownership']} {row['status']}, "
                          "Mailchimp does not hold it")
        elif member["status"] != row["status"]:
            untrue.append(f"{row['email']}: state says {row['status']}, Mailchimp {member['status']}")
    return sorted(untrue)


def consent_of(engine: Engine, org_id: str) -> dict[int, bool]:
    """contact id → marketing_consent."""
    c = tables.contacts
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(c.c.id, c.c.marketing_consent).where(c.c.org_id == org_id)).tuples().all())


# -- running the sync -----------------------------------------------------------------------------

def run_sync(instance, org_id: str, engine: Engine, emulator, *, batch_size: int = 500,
             page_size: int = 1000, dry_run: bool = False, raise_on_error: bool = False,
             tags: dict[str, str] | None = None, **mailchimp: Any):
    """Materialize the sync graph for one org with run config the stock helper does not expose."""
    if not instance.has_dynamic_partition(ORG_PARTITIONS_NAME, org_id):
        instance.add_dynamic_partitions(ORG_PARTITIONS_NAME, [org_id])
    run_config = sync_run_config(dry_run, batch_size=batch_size, page_size=page_size)
    return materialize(SYNC_ASSETS, partition_key=org_id, instance=instance, run_config=run_config,
                       resources=resources_for(engine, emulator, **mailchimp),
                       raise_on_error=raise_on_error, tags={"org": org_id, **(tags or {})})


@contextlib.contextmanager
def immediate_retries() -> Iterator[None]:
    """The sync assets keep their RetryPolicy (same number of retries) without its delays of 5,
    10 and 20 s, so a test can show what is retried without waiting for it."""
    ops = [a.op for a in SYNC_ASSETS if a.op.retry_policy is not None]
    saved = [op._retry_policy for op in ops]
    try:
        for op, policy in zip(ops, saved, strict=True):
            op._retry_policy = RetryPolicy(max_retries=policy.max_retries, delay=0)
        yield
    finally:
        for op, policy in zip(ops, saved, strict=True):
            op._retry_policy = policy


def sync_until_clean(instance, org_id: str, engine: Engine, emulator, *, max_runs: int = 3,
                     **kwargs: Any) -> tuple[list[dict[str, Any]], int]:
    """Run the sync until a run succeeds with no row left to retry (at most `max_runs`); a row
    left to retry is one that failed transiently after the client's own retries, or whose status
    could not be read back.

    Returns the audience_sync metadata of every run and the number of runs it took."""
    metas = []
    for attempt in range(1, max_runs + 1):
        result = run_sync(instance, org_id, engine, emulator, **kwargs)
        if result.success:
            meta = sync_outcome_of(result)  # a settled org's sync: clean by construction
            metas.append(meta)
            # terminal per-row outcomes (parked) are final, not retried; a member whose status
            # could not be read back (the client gave up) is retried next run like a failed row
            if meta["failed"] == 0 and not meta.get("skipped[status_unknown]"):
                return metas, attempt
        else:
            metas.append({"status": "failed"})
    raise AssertionError(f"org {org_id}: no clean sync in {max_runs} runs: {metas}")


def failure_message(result) -> str:
    """The messages of a failed run's step failures (for exact-error assertions)."""
    texts = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            texts.append(error.message if error else "")
    return "\n".join(texts)
