"""The audience sync graph materialized with `dagster.materialize` on real resources: the
application DB (PostgreSQL and SQLite) and the Mailchimp emulator over HTTP."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import instance_for_test

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.store import runs
from mc_pipelines.store.contacts import read_live_contacts
from mc_pipelines.store.member_state import load_state
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    add_segment,
    connect_to_emulator,
    contact_row,
    update_contact,
)
from mc_pipelines_tests.support.dagster_runs import (
    materialize_sync,
    metadata_of,
    observation_of,
    sync_outcome_of,
)


def _seed(engine, org_id: str, base: int, n: int = 40) -> None:
    add_org(engine, org_id)
    rows = [contact_row(org_id, base + i, f"person{i}@{org_id}.io",
                        tags=["vip"] if i % 3 == 0 else [],
                        contact_type="employee" if i % 2 else "customer",
                        department="Sales" if i % 4 == 1 else "Ops")
            for i in range(n)]
    rows[1]["marketing_consent"] = False
    rows[2]["email"] = "not-an-email"
    rows[3]["email"] = f"PERSON4@{org_id.upper()}.io"  # duplicate of person4 in another case
    rows[5]["deleted_at"] = rows[5]["created_at"]
    add_contacts(engine, rows)
    add_segment(engine, org_id, base + 1, "app:vip", {"tags": ["vip"]})
    add_segment(engine, org_id, base + 2, "app:sales", {"department": "sales"}, segment_type="employee")


def _winners(engine, org_id: str) -> pd.DataFrame:
    """Consented contacts with a plausible email, one per address (the latest update wins)."""
    source = read_live_contacts(engine, org_id)
    live = source[source["marketing_consent"] & source["email"].str.contains("@", na=False)].copy()
    live["key"] = live["email"].str.strip().str.lower()
    live = live[~live["key"].str.contains(" ")]
    return live.sort_values("updated_at", ascending=False).drop_duplicates("key")


def _expected_members(engine, org_id: str) -> set[str]:
    return set(_winners(engine, org_id)["key"])


def _audience(emulator, conn) -> dict[str, dict]:
    return {m["email_address"].lower(): m for m in emulator.dump_list(conn["api_key"], conn["audience_id"])}


def test_two_orgs_sync_exactly_and_resync_writes_nothing(app_engine, emulator):
    conns = {}
    for org_id, base in (("north", 10_000), ("south", 20_000)):
        _seed(app_engine, org_id, base)
        conns[org_id] = connect_to_emulator(app_engine, emulator, org_id)
    with instance_for_test() as instance:
        for org_id in conns:
            result = materialize_sync(instance, org_id, app_engine, emulator)
            meta = metadata_of(result, "audience_sync")
            audience = _audience(emulator, conns[org_id])
            assert set(audience) == _expected_members(app_engine, org_id)
            assert all(m["status"] == "subscribed" for m in audience.values())
            assert meta["created"] == len(audience) and meta["failed"] == 0
            vip = {m for m, v in audience.items() if "app:vip" in v["tags"]}
            winners = _winners(app_engine, org_id)
            want_vip = {k for k, t in zip(winners["key"], winners["tags"], strict=True) if "vip" in t}
            assert vip == want_vip
            # segment_members, segment_summary, desired_members: typed frames with row counts
            assert metadata_of(result, "desired_members")["dagster/row_count"] == len(audience)
            assert metadata_of(result, "segment_summary")["dagster/row_count"] == 2
            assert metadata_of(result, "segment_members")["dagster/row_count"] == sum(
                len(m["tags"]) for m in audience.values())
            rejected = metadata_of(result, "rejected_contacts")
            assert rejected["invalid"] == 1 and rejected["duplicates"] == 1

        for org_id, conn in conns.items():
            writes = emulator.stats(conn["api_key"])["writes"]
            result = materialize_sync(instance, org_id, app_engine, emulator)
            assert emulator.stats(conn["api_key"])["writes"] == writes
            # on PostgreSQL the org is settled: observed unchanged, not planned again
            assert sync_outcome_of(result)["mailchimp_write_calls"] == 0


def test_changes_flow_incrementally_without_status_flips(app_engine, emulator):
    _seed(app_engine, "east", 30_000)
    conn = connect_to_emulator(app_engine, emulator, "east")
    with instance_for_test() as instance:
        materialize_sync(instance, "east", app_engine, emulator)
        leaver = "person6@east.io"
        emulator.member_event(conn["api_key"], conn["audience_id"], subscriber_hash(leaver), "unsubscribe")
        update_contact(app_engine, "east", 30_007, first_name="Renamed")      # merge field change
        update_contact(app_engine, "east", 30_008, marketing_consent=False)   # consent withdrawn in app
        update_contact(app_engine, "east", 30_009, tags=["vip"])              # joins a segment
        update_contact(app_engine, "east", 30_006, first_name="Changed too")  # the leaver changes too
        result = materialize_sync(instance, "east", app_engine, emulator)
        status_meta = metadata_of(result, "mailchimp_member_status")
        assert status_meta["consent_withdrawn"] == 1
        audience = _audience(emulator, conn)
        assert audience[leaver]["status"] == "unsubscribed"           # never re-subscribed
        assert audience["person7@east.io"]["merge_fields"]["FNAME"] == "Renamed"
        assert audience["person8@east.io"]["status"] == "unsubscribed"
        assert "app:vip" in audience["person9@east.io"]["tags"]
        contacts = read_live_contacts(app_engine, "east").set_index("id")
        assert not contacts.loc[30_006, "marketing_consent"]
        meta = metadata_of(result, "audience_sync")
        assert meta["unsubscribed"] == 1 and meta["updated"] == 1 and meta["failed"] == 0


def test_per_row_failures_are_recorded_with_contact_ids(app_engine, emulator):
    add_org(app_engine, "west")
    add_contacts(app_engine, [
        contact_row("west", 1, "real.person@west.io"),
        contact_row("west", 2, "someone@example.com"),  # Mailchimp rejects it as fake
        contact_row("west", 3, "bad address@west.io"),  # never sent: rejected by the cohort
    ])
    conn = connect_to_emulator(app_engine, emulator, "west")
    with instance_for_test() as instance:
        result = materialize_sync(instance, "west", app_engine, emulator)
        meta = metadata_of(result, "audience_sync")
        assert meta["created"] == 1 and meta["status"] == "partial"
        errors = runs.errors_for_run(app_engine, "west", meta["sync_run_id"])
        assert errors["contact_id"].tolist() == [2]
        assert errors["error_code"].tolist() == ["fake_email"]
        assert set(_audience(emulator, conn)) == {"real.person@west.io"}
        rejected = metadata_of(result, "rejected_contacts")
        assert rejected["invalid"] == 1
        # a terminal outcome is parked, not retried: the re-run writes nothing
        writes = emulator.stats(conn["api_key"])["writes"]
        materialize_sync(instance, "west", app_engine, emulator)
        assert emulator.stats(conn["api_key"])["writes"] == writes


def test_dry_run_plans_without_writing(app_engine, emulator):
    _seed(app_engine, "dry", 40_000, n=12)
    conn = connect_to_emulator(app_engine, emulator, "dry")
    writes = emulator.stats(conn["api_key"])["writes"]  # creating the audience was one
    with instance_for_test() as instance:
        result = materialize_sync(instance, "dry", app_engine, emulator, dry_run=True)
        meta = observation_of(result, "audience_sync")  # a plan, not a materialization
        assert meta["dry_run"] is True and meta["planned_creates"] == len(_expected_members(app_engine, "dry"))
        assert meta["planned_calls"] >= 1
    assert emulator.stats(conn["api_key"])["writes"] == writes
    assert load_state(app_engine, "dry").empty


def test_blocking_check_stops_the_push(app_engine, emulator, monkeypatch):
    import mc_pipelines.assets.contacts as contacts_asset

    real_build = contacts_asset.build_cohort

    def corrupted(source: pd.DataFrame):
        result = real_build(source)
        result.cohort.loc[result.cohort.index[0], "email"] = "corrupt@@x"  # an invalid email slips in
        return result

    monkeypatch.setattr(contacts_asset, "build_cohort", corrupted)
    _seed(app_engine, "blocked", 50_000, n=10)
    conn = connect_to_emulator(app_engine, emulator, "blocked")
    writes = emulator.stats(conn["api_key"])["writes"]
    with instance_for_test() as instance:
        result = materialize_sync(instance, "blocked", app_engine, emulator, raise_on_error=False)
        assert not result.success
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks["cohort_is_valid"] is False
        with pytest.raises(KeyError):
            metadata_of(result, "audience_sync")
    assert emulator.stats(conn["api_key"])["writes"] == writes
    assert load_state(app_engine, "blocked").empty


def test_segment_status_connection_status_and_audit(app_engine, emulator):
    from mc_pipelines.store import audit
    from mc_pipelines.store.connections import get_connection
    from mc_pipelines.store.segments import active_segments

    _seed(app_engine, "audited", 60_000, n=12)
    add_segment(app_engine, "audited", 60_003, "app:broken", {"favourite_colour": "blue"})
    conn = connect_to_emulator(app_engine, emulator, "audited")
    with instance_for_test() as instance:
        result = materialize_sync(instance, "audited", app_engine, emulator)
    segments = active_segments(app_engine, "audited").set_index("id")
    assert segments.loc[60_001, "status"] == "synced" and segments.loc[60_002, "status"] == "synced"
    assert segments.loc[60_003, "status"] == "error"
    summary = metadata_of(result, "segment_summary")
    assert summary["segments_with_errors"] == 1
    assert all("app:broken" not in m["tags"] for m in emulator.dump_list(conn["api_key"], conn["audience_id"]))
    connection = get_connection(app_engine, "audited")
    assert connection.last_sync_status == "success" and connection.last_sync_at is not None
    entries = audit.entries(app_engine, "audited", action="sync")
    assert len(entries) == 1 and entries[0]["detail"]["created"] == metadata_of(result, "audience_sync")["created"]
    assert entries[0]["actor"].startswith("dagster:")
