"""The same `sql/` migrations on PostgreSQL and SQLite: applied idempotently, matching the Core
table descriptions, and round-tripping rows of every kind of column."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from mc_pipelines.store import connections, contacts, member_state, runs
from mc_pipelines.store.db import create_db_engine
from mc_pipelines.store.migrations import (
    MigrationsNotFoundError,
    applied_versions,
    discover,
    migrate,
)
from mc_pipelines.store.tables import contact_segments, metadata, orgs
from mc_pipelines.store.tables import contacts as contacts_table


def test_migrations_are_idempotent_and_recorded(app_engine):
    assert migrate(app_engine) == []
    assert applied_versions(app_engine) == {m.version for m in discover()}


def test_migrations_ship_with_the_package():
    assert [m.name for m in discover()][:2] == ["001_app_schema.sql", "002_sync_state.sql"]


@pytest.mark.parametrize("where", ["empty", "missing"])
def test_migrate_fails_loudly_when_it_finds_no_migration(tmp_path, where):
    sql_dir = tmp_path / "sql"
    if where == "empty":
        sql_dir.mkdir()
        (sql_dir / "README.txt").write_text("not a migration")
    engine = create_db_engine(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        with pytest.raises(MigrationsNotFoundError, match=str(sql_dir)):
            migrate(engine, sql_dir)
        assert sa.inspect(engine).get_table_names() == []  # nothing written
    finally:
        engine.dispose()


def test_core_tables_match_the_ddl(app_engine):
    inspector = sa.inspect(app_engine)
    for table in metadata.sorted_tables:
        db_columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert db_columns == {c.name for c in table.columns}, table.name


def _org(conn, org_id: str) -> None:
    conn.execute(orgs.insert().values(id=org_id, name=f"Org {org_id}", created_at=datetime(2026, 1, 1)))


def test_rows_round_trip(app_engine):
    now = datetime(2026, 3, 4, 5, 6, 7)
    with app_engine.begin() as conn:
        _org(conn, "o1")
        _org(conn, "o2")
        conn.execute(contacts_table.insert(), [
            {"id": 1, "org_id": "o1", "email": "Zoë@example.io", "first_name": "Zoë " * 50,
             "last_name": "'; DROP TABLE contacts; --", "phone": None, "contact_type": "employee",
             "department": "Sales", "location": "Berlin", "employment_type": "full_time",
             "employment_status": "active", "marketing_consent": True, "tags": ["vip", "ünï"],
             "created_at": now, "updated_at": now, "deleted_at": None},
            {"id": 2, "org_id": "o1", "email": "gone@x.io", "first_name": "G", "last_name": "",
             "phone": "1", "contact_type": "customer", "department": None, "location": None,
             "employment_type": None, "employment_status": None, "marketing_consent": True, "tags": [],
             "created_at": now, "updated_at": now, "deleted_at": now},
            {"id": 3, "org_id": "o2", "email": "other@x.io", "first_name": "O", "last_name": "",
             "phone": "1", "contact_type": "vendor", "department": None, "location": None,
             "employment_type": None, "employment_status": None, "marketing_consent": False, "tags": [],
             "created_at": now, "updated_at": now, "deleted_at": None},
        ])
        conn.execute(contact_segments.insert().values(
            id=10, org_id="o1", name="s", segment_type="mixed", filters={"tags": ["vip"]},
            mailchimp_tag="t", status="pending"))
    frame = contacts.read_live_contacts(app_engine, "o1")
    assert frame["id"].tolist() == [1]  # soft-deleted and other org's rows excluded
    row = frame.iloc[0]
    assert row["email"] == "Zoë@example.io" and row["first_name"] == "Zoë " * 50
    assert row["last_name"] == "'; DROP TABLE contacts; --"
    assert row["tags"] == ["vip", "ünï"] and bool(row["marketing_consent"]) is True
    assert row["phone"] is None and row["updated_at"] == now

    assert contacts.withdraw_consent(app_engine, "o1", [1, 3], source="mailchimp", detail="unsub") == [1]
    assert contacts.read_live_contacts(app_engine, "o2")["marketing_consent"].tolist() == [False]

    member_state.save_rows(app_engine, "o1", [
        {"audience_id": "aud", "subscriber_hash": "a" * 32, "contact_id": 1, "email": "z@x.io",
         "payload_hash": "p" * 32, "status": "subscribed", "managed_tags": ["t"]},
    ], columns=["payload_hash", "status", "managed_tags"])
    member_state.save_rows(app_engine, "o1", [
        {"audience_id": "aud", "subscriber_hash": "a" * 32, "status": "unsubscribed"},
    ], columns=["status"])
    state = member_state.load_state(app_engine, "o1")
    assert state.loc[0, "status"] == "unsubscribed" and state.loc[0, "payload_hash"] == "p" * 32
    # a row saved without an ownership is not claimed as the project's (nor linked)
    assert state.loc[0, "managed_tags"] == ["t"] and state.loc[0, "ownership"] == "none"
    assert member_state.load_state(app_engine, "o2").empty

    run_id = runs.start_run(app_engine, "o1", kind="audience_sync", dry_run=False, dagster_run_id=None)
    runs.record_errors(app_engine, run_id, "o1", [
        {"audience_id": "aud", "contact_id": 1, "email": "z@x.io", "error_code": "fake_email",
         "message": "looks fake"}])
    runs.finish_run(app_engine, run_id, status="success", summary={"created": 1})
    assert runs.errors_for_run(app_engine, "o1", run_id)["contact_id"].tolist() == [1]
    assert runs.errors_for_run(app_engine, "o2", run_id).empty
    assert runs.latest_runs(app_engine, "o1")[0]["summary"] == {"created": 1}
    assert connections.get_connection(app_engine, "o1") is None


def test_contact_text_that_looks_like_null_is_read_as_written(app_engine):
    """PostgreSQL is read through Arrow's CSV reader: only a NULL is None, never a text such as
    "NA", "null" or "-" that a default null list would take for one."""
    from mc_pipelines_tests.support.app_data import add_contacts, add_org, contact_row

    add_org(app_engine, "o1")
    add_contacts(app_engine, [
        contact_row("o1", 1, "na@example.io", first_name="NA", last_name="null", phone="-",
                    department="N/A", location="nan"),
        contact_row("o1", 2, "none@example.io", first_name="None", last_name="NULL"),
    ])
    frame = contacts.read_live_contacts(app_engine, "o1").set_index("id")
    assert frame.loc[1, ["first_name", "last_name", "phone", "department", "location"]].tolist() == \
        ["NA", "null", "-", "N/A", "nan"]
    assert frame.loc[2, ["first_name", "last_name"]].tolist() == ["None", "NULL"]
    assert frame.loc[2, "phone"] is None
