"""What the settled-org fingerprint sees (`store.settled`): every write a plan could depend on
changes it, the sync's own bookkeeping does not, and SQLite has none."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
import sqlalchemy as sa

from mc_pipelines.store import member_state, segments, settled
from mc_pipelines.store.connections import record_sync_status, update_connection
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    add_segment,
    contact_row,
    update_contact,
)
from mc_pipelines_tests.support.db import connect_stub

ORG = "fp"


def _sql(statement: str) -> Callable[[sa.Engine], None]:
    def run(engine: sa.Engine) -> None:
        with engine.begin() as conn:
            conn.execute(sa.text(statement))
    return run


@pytest.fixture
def org(pg_app_engine):
    add_org(pg_app_engine, ORG)
    add_org(pg_app_engine, "other")
    add_contacts(pg_app_engine, [contact_row(ORG, 1 + i, f"c{i}@fp.io") for i in range(5)]
                 + [contact_row("other", 100, "x@other.io")])
    add_segment(pg_app_engine, ORG, 7, "app:vip", {"tags": ["vip"]})
    connect_stub(pg_app_engine, ORG)
    connect_stub(pg_app_engine, "other")
    member_state.save_rows(pg_app_engine, ORG, [
        {"audience_id": "aud1", "subscriber_hash": f"{i:032x}", "contact_id": 1 + i, "email": f"c{i}@fp.io",
         "status": "subscribed", "ownership": "created"} for i in range(5)],
        ["contact_id", "email", "status", "ownership"])
    return pg_app_engine


PLANS_AGAIN = {
    "a contact updated": lambda e: update_contact(e, ORG, 1, first_name="Ann"),
    "a contact updated to the same values": _sql("UPDATE contacts SET first_name = first_name WHERE id = 1"),
    "a contact's consent withdrawn": lambda e: update_contact(e, ORG, 2, marketing_consent=False),
    "a contact added": lambda e: add_contacts(e, [contact_row(ORG, 50, "new@fp.io")]),
    "a contact deleted from the table": _sql(f"DELETE FROM contacts WHERE org_id = '{ORG}' AND id = 3"),
    "a consent event recorded": _sql("INSERT INTO consent_events (id, org_id, contact_id, kind, at, source) "
                                     f"VALUES ('e1', '{ORG}', 1, 'given', '2026-01-01', 'app')"),
    "a segment's filters": _sql("UPDATE contact_segments SET filters = '{\"tags\": [\"gold\"]}' WHERE id = 7"),
    "a connection option": lambda e: update_connection(e, ORG, existing_members="leave"),
}
STATE_CHANGES = {
    "a member's status": lambda e: member_state.save_rows(
        e, ORG, [{"audience_id": "aud1", "subscriber_hash": f"{0:032x}", "status": "unsubscribed"}], ["status"]),
    "a member's managed tags": lambda e: member_state.save_rows(
        e, ORG, [{"audience_id": "aud1", "subscriber_hash": f"{1:032x}", "managed_tags": ["vip"]}], ["managed_tags"]),
    "a member's opt-out time": lambda e: member_state.save_rows(
        e, ORG, [{"audience_id": "aud1", "subscriber_hash": f"{2:032x}", "opted_out_at": datetime(2026, 1, 1)}],
        ["opted_out_at"]),
}
BOOKKEEPING = {
    "the connection's last sync": lambda e: record_sync_status(e, ORG, status="success", error=None),
    "the segments' sync status": lambda e: segments.set_status(e, ORG, [7], "synced"),
    "another org's contacts": lambda e: update_contact(e, "other", 100, first_name="Xena"),
    "what the pull keeps and plans nothing": lambda e: member_state.save_rows(
        e, ORG, [{"audience_id": "aud1", "subscriber_hash": f"{0:032x}", "mailchimp_tags": ["vip"],
                  "last_changed": datetime(2026, 1, 2)}], ["mailchimp_tags", "last_changed"]),
}


def _both(engine) -> tuple[str | None, str | None]:
    return settled.app_fingerprint(engine, ORG), settled.state_fingerprint(engine, ORG)


@pytest.mark.parametrize(("change", "part"), [(c, 0) for c in PLANS_AGAIN] + [(c, 1) for c in STATE_CHANGES])
def test_every_write_a_plan_reads_changes_its_part_of_the_fingerprint(org, change, part):
    """Part 0: the application rows; part 1: the member state."""
    before = _both(org)
    {**PLANS_AGAIN, **STATE_CHANGES}[change](org)
    after = _both(org)
    assert after[part] != before[part] and after[1 - part] == before[1 - part]


@pytest.mark.parametrize("change", list(BOOKKEEPING))
def test_what_plans_nothing_leaves_the_fingerprint_alone(org, change):
    before = _both(org)
    BOOKKEEPING[change](org)
    assert _both(org) == before


def test_a_settled_record_matches_only_its_fingerprint_and_is_forgotten(org):
    fingerprint = settled.combine(*_both(org), "{}")
    assert fingerprint is not None and settled.settled_run(org, ORG, fingerprint) is None
    settled.record(org, ORG, fingerprint, "run-1", [{"audience_id": "aud1", "skipped": []}])
    found = settled.settled_run(org, ORG, fingerprint)
    assert found is not None and found.sync_run_id == "run-1"
    assert settled.settled_run(org, ORG, settled.combine(*_both(org), '{"dry_run": false}')) is None
    assert settled.settled_run(org, "other", fingerprint) is None
    settled.record(org, ORG, None, "run-2", [])  # a sync that did not settle forgets
    assert settled.settled_run(org, ORG, fingerprint) is None


@pytest.mark.parametrize("app_engine", ["sqlite"], indirect=True)
def test_sqlite_has_no_fingerprint(app_engine):
    add_org(app_engine, ORG)
    assert _both(app_engine) == (None, None)
    assert settled.combine(None, None, "{}") is None
