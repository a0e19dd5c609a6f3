"""Per-org freshness of the unattended syncs and campaign stats, on a real instance and the
application DB (PostgreSQL and SQLite): the rule's verdict at chosen instants (no timing), the
sensor's results, and the checks' place in the definitions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dagster import (
    AssetCheckKey,
    AssetMaterialization,
    SensorResult,
    SkipReason,
    build_sensor_context,
    instance_for_test,
)

from mc_pipelines.automation.freshness import RULES, evaluate, freshness_sensor
from mc_pipelines.store.clock import utcnow
from mc_pipelines.store.connections import update_connection
from mc_pipelines_tests.support.app_data import add_org
from mc_pipelines_tests.support.db import app_db, connect_stub

SYNC_RULE = RULES[0]


@pytest.fixture
def orgs(app_engine):
    now = utcnow()
    for org, auto in (("daily", True), ("forgotten", True), ("new", True), ("manual", False)):
        add_org(app_engine, org)
        connect_stub(app_engine, org, auto_sync=auto)
        update_connection(app_engine, org, connected_at=now - (timedelta(hours=1) if org == "new" else timedelta(days=3)))
    return now


def test_only_auto_sync_orgs_past_the_limit_are_late(app_engine, orgs):
    now = orgs
    with instance_for_test() as instance:
        instance.report_runless_asset_event(AssetMaterialization("audience_sync", partition="daily"))
        verdict = evaluate(SYNC_RULE, instance, app_engine, now)
        assert sorted(verdict.orgs) == ["daily", "forgotten", "new"]      # manual: no schedule promise
        assert verdict.late == {"forgotten": "never updated"}              # new: connected 1 h ago
        assert "1 of 3 auto-sync orgs late" in verdict.description()
        later = evaluate(SYNC_RULE, instance, app_engine, now + timedelta(hours=27))
        assert sorted(later.late) == ["daily", "forgotten", "new"]
        assert later.late["daily"] == "last update 27 h ago"


def test_sensor_reports_results_without_a_run_and_only_when_they_change(app_engine, orgs):
    with instance_for_test() as instance:
        instance.report_runless_asset_event(AssetMaterialization("audience_sync", partition="daily"))
        context = build_sensor_context(instance=instance, resources={"app_db": app_db(app_engine)})
        result = freshness_sensor(context)
        assert isinstance(result, SensorResult)
        by_check = {e.check_name: e for e in result.asset_events}
        sync = by_check["sync_is_fresh"]
        assert not sync.passed and sync.metadata["late_orgs"].value == ["forgotten"]
        assert by_check["stats_are_fresh"].passed  # no org has campaigns to refresh
        for event in result.asset_events:  # what the daemon does with them
            instance.report_runless_asset_event(event)
        assert isinstance(freshness_sensor(context), SkipReason)
        instance.report_runless_asset_event(AssetMaterialization("audience_sync", partition="forgotten"))
        again = freshness_sensor(context)
        assert [e.check_name for e in again.asset_events] == ["sync_is_fresh"]
        assert again.asset_events[0].passed


def test_freshness_checks_and_sensor_are_in_the_definitions():
    from mc_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    assert AssetCheckKey.from_user_string("audience_sync:sync_is_fresh") in graph.asset_check_keys
    assert AssetCheckKey.from_user_string("campaign_stats:stats_are_fresh") in graph.asset_check_keys
    assert defs.resolve_sensor_def("freshness_sensor") is not None
