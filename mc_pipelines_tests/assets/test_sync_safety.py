"""Single-asset safety and honest dry runs, on real resources (PostgreSQL, the emulator over HTTP):
an asset of the sync chain materialized alone never plans from an earlier run's outputs, and a
dry run writes nothing in any step, is tagged, and never records audience_sync as materialized."""

from __future__ import annotations

import pytest
from dagster import AssetKey, DagsterEventType, instance_for_test

from mc_pipelines.assets.dry_run import DRY_RUN_TAG
from mc_pipelines.automation.run_config import run_config_dict
from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    consent_of,
    contact_row,
    update_contact,
)
from mc_pipelines_tests.support.dagster_runs import (
    materialize_subset,
    materialize_sync,
    metadata_of,
    observation_of,
)


def _org(engine, emulator, org_id: str, n: int = 6) -> dict:
    add_org(engine, org_id)
    add_contacts(engine, [contact_row(org_id, i, f"p{i}@{org_id}.example.org") for i in range(1, n + 1)])
    return connect_to_emulator(engine, emulator, org_id)


def _statuses(emulator, conn) -> dict[str, str]:
    return {m["email_address"]: m["status"] for m in emulator.dump_list(conn["api_key"], conn["audience_id"])}


def _failure_messages(result) -> str:
    return "\n".join(e.event_specific_data.error.message for e in result.all_events
                     if e.event_type == DagsterEventType.STEP_FAILURE)


def test_audience_sync_alone_refuses_a_stale_plan(pg_app_engine, emulator):
    conn = _org(pg_app_engine, emulator, "stale")
    with instance_for_test() as instance:
        materialize_sync(instance, "stale", pg_app_engine, emulator)
        assert _statuses(emulator, conn)["p2@stale.example.org"] == "subscribed"
        update_contact(pg_app_engine, "stale", 2, marketing_consent=False)  # withdrawn since
        writes = emulator.stats(conn["api_key"])["writes"]

        result = materialize_subset(instance, "stale", pg_app_engine, emulator, ["audience_sync"])

        assert not result.success
        message = _failure_messages(result)
        assert "refuses to compute from stale inputs" in message
        assert "audience_sync for org 'stale'" in message
        assert "mailchimp_member_status" in message and "desired_members" in message
        assert "not in this run" in message and "audience_sync_job" in message
        assert emulator.stats(conn["api_key"])["writes"] == writes  # nothing pushed
        # the whole chain in one run honours the withdrawal
        materialize_sync(instance, "stale", pg_app_engine, emulator)
        assert _statuses(emulator, conn)["p2@stale.example.org"] == "unsubscribed"


def test_every_intermediate_asset_alone_refuses_stale_inputs(pg_app_engine, emulator):
    _org(pg_app_engine, emulator, "parts")
    with instance_for_test() as instance:
        materialize_sync(instance, "parts", pg_app_engine, emulator)
        for names, stale in ((["consented_contacts", "rejected_contacts"], "source_contacts"),
                             (["segment_members", "segment_summary", "desired_members"], "consented_contacts")):
            result = materialize_subset(instance, "parts", pg_app_engine, emulator, names)
            assert not result.success and f"{stale} was last materialized" in _failure_messages(result)
        # reading the source of truth alone is always safe
        assert materialize_subset(instance, "parts", pg_app_engine, emulator, ["source_contacts"]).success


def test_dry_run_from_the_launchpad_is_dry_in_every_step_tagged_and_not_a_materialization(pg_app_engine, emulator):
    """Only `audience_sync`'s config says `dry_run` (as in the launchpad): the pull writes
    nothing either, the run is tagged, the plan is an observation, not a materialization."""
    from dagster import materialize

    from mc_pipelines_tests.support.dagster_runs import SYNC_ASSETS, resources_for

    conn = _org(pg_app_engine, emulator, "dry")
    with instance_for_test() as instance:
        materialize_sync(instance, "dry", pg_app_engine, emulator)
        leaver = "p3@dry.example.org"
        emulator.member_event(conn["api_key"], conn["audience_id"], subscriber_hash(leaver), "unsubscribe")
        update_contact(pg_app_engine, "dry", 4, first_name="Changed")
        writes = emulator.stats(conn["api_key"])["writes"]

        result = materialize(SYNC_ASSETS, partition_key="dry", instance=instance,
                             resources=resources_for(pg_app_engine, emulator), tags={"org": "dry"},
                             run_config={"ops": {"audience_sync": {"config": {"dry_run": True}}}})

        assert result.success
        assert instance.get_run_by_id(result.run_id).tags[DRY_RUN_TAG] == "true"
        assert consent_of(pg_app_engine, "dry")[3] is True  # the pull withdrew nothing
        assert emulator.stats(conn["api_key"])["writes"] == writes
        assert metadata_of(result, "mailchimp_member_status")["dry_run"] is True
        with pytest.raises(KeyError):
            metadata_of(result, "audience_sync")  # not a materialization of the synced state
        plan = observation_of(result, "audience_sync")
        assert plan["dry_run"] is True and plan["planned_updates"] == 1
        assert result.get_asset_check_evaluations() == [] or all(
            e.asset_key != AssetKey("audience_sync") for e in result.get_asset_check_evaluations())
        latest = instance.get_latest_materialization_event(AssetKey("audience_sync"))
        assert latest is not None and latest.run_id != result.run_id


def test_dry_run_tag_alone_makes_the_run_dry(pg_app_engine, emulator):
    conn = _org(pg_app_engine, emulator, "tagged")
    writes = emulator.stats(conn["api_key"])["writes"]
    from dagster import materialize

    from mc_pipelines_tests.support.dagster_runs import SYNC_ASSETS, resources_for
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("orgs", ["tagged"])
        result = materialize(SYNC_ASSETS, partition_key="tagged", instance=instance,
                             resources=resources_for(pg_app_engine, emulator),
                             tags={"org": "tagged", DRY_RUN_TAG: "true"}, run_config=run_config_dict())
        assert result.success
        assert observation_of(result, "audience_sync")["planned_creates"] == 6
        assert instance.get_latest_materialization_event(AssetKey("audience_sync")) is None
    assert emulator.stats(conn["api_key"])["writes"] == writes
