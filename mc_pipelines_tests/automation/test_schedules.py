"""The schedules' run requests for a given tick, and the automation wired into Definitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dagster import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    SkipReason,
    build_schedule_context,
    instance_for_test,
)

from mc_pipelines.automation.schedules import (
    campaign_stats_refresh,
    daily_audience_sync,
    hourly_member_status_pull,
)
from mc_pipelines.partitions import ORG_PARTITIONS_NAME
from mc_pipelines.store.campaigns import track_campaign
from mc_pipelines_tests.support.app_data import add_org
from mc_pipelines_tests.support.db import app_db, connect_stub

TICK = datetime(2026, 5, 2, 5, 0, tzinfo=UTC)


@pytest.fixture
def instance():
    with instance_for_test() as inst:
        yield inst


def evaluate(schedule, instance, engine, when: datetime = TICK):
    context = build_schedule_context(instance=instance, scheduled_execution_time=when,
                                     resources={"app_db": app_db(engine)})
    return schedule(context)


def test_daily_sync_runs_auto_sync_orgs_with_deterministic_keys(instance, app_engine):
    for org in ("acme", "globex", "initech", "hooli"):
        add_org(app_engine, org)
    connect_stub(app_engine, "acme", auto_sync=True)
    connect_stub(app_engine, "globex", auto_sync=False)
    connect_stub(app_engine, "initech", auto_sync=True, enabled=False)  # hooli: never connected

    requests = evaluate(daily_audience_sync, instance, app_engine)
    assert [(r.partition_key, r.run_key, r.tags) for r in requests] == [
        ("acme", "daily-2026-05-02-acme", {"org": "acme"})]
    assert instance.get_dynamic_partitions(ORG_PARTITIONS_NAME) == ["acme"]  # added for the run
    again = evaluate(daily_audience_sync, instance, app_engine)
    assert [r.run_key for r in again] == ["daily-2026-05-02-acme"]
    next_day = evaluate(daily_audience_sync, instance, app_engine, TICK + timedelta(days=1))
    assert [r.run_key for r in next_day] == ["daily-2026-05-03-acme"]


def test_daily_sync_skips_when_no_org_auto_syncs(instance, app_engine):
    add_org(app_engine, "acme")
    connect_stub(app_engine, "acme", auto_sync=False)
    assert isinstance(evaluate(daily_audience_sync, instance, app_engine), SkipReason)


def test_hourly_pull_runs_every_enabled_org_and_only_the_pull(instance, app_engine):
    for org in ("acme", "globex", "initech", "hooli"):
        add_org(app_engine, org)
    connect_stub(app_engine, "acme", auto_sync=True)
    connect_stub(app_engine, "globex", auto_sync=False)  # no auto_sync: its opt-outs still come back
    connect_stub(app_engine, "initech", enabled=False)  # hooli: never connected
    tick = TICK.replace(hour=9, minute=30)
    from mc_pipelines.definitions import defs  # (resolved while the instance is live)

    requests = evaluate(hourly_member_status_pull, instance, app_engine, tick)
    assert [(r.partition_key, r.run_key, r.tags) for r in requests] == [
        ("acme", "status-2026-05-02T09:30-acme", {"org": "acme"}),
        ("globex", "status-2026-05-02T09:30-globex", {"org": "globex"})]
    assert hourly_member_status_pull.job_name == "member_status_pull_job"
    job = defs.resolve_job_def("member_status_pull_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {"mailchimp_member_status"}
    later = evaluate(hourly_member_status_pull, instance, app_engine, tick + timedelta(hours=1))
    assert [r.run_key for r in later] == ["status-2026-05-02T10:30-acme", "status-2026-05-02T10:30-globex"]


def test_hourly_pull_skips_without_an_active_org(instance, app_engine):
    add_org(app_engine, "acme")
    connect_stub(app_engine, "acme", enabled=False)
    assert isinstance(evaluate(hourly_member_status_pull, instance, app_engine), SkipReason)


def test_campaign_refresh_runs_orgs_with_moving_campaigns(instance, app_engine):
    now = TICK.replace(tzinfo=None, hour=6)
    for org in ("acme", "globex", "initech", "hooli"):
        add_org(app_engine, org)
        connect_stub(app_engine, org, enabled=org != "hooli")
    track_campaign(app_engine, "acme", "c1", {"status": "sent", "send_time": now - timedelta(days=3)}, actor="t")
    track_campaign(app_engine, "globex", "c2", {"status": "sent", "send_time": now - timedelta(days=90)},
                   actor="t")
    track_campaign(app_engine, "globex", "c3", {"status": "canceled"}, actor="t")
    track_campaign(app_engine, "initech", "c4", {"status": "sending"}, actor="t")
    track_campaign(app_engine, "hooli", "c5", {"status": "sending"}, actor="t")  # disabled org

    requests = evaluate(campaign_stats_refresh, instance, app_engine, TICK.replace(hour=6))
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("acme", "campaigns-2026-05-02T06:00-acme"), ("initech", "campaigns-2026-05-02T06:00-initech")]
    assert all(r.tags == {"org": r.partition_key} for r in requests)


def test_definitions_carry_the_automation(instance):
    """(Resolved while an instance is live: Dagster reads definitions state from the current one.)"""
    from mc_pipelines.definitions import defs

    assert {s.name: s.default_status for s in defs.sensors} == {
        name: DefaultSensorStatus.RUNNING for name in (
            "org_partitions_sensor", "sync_requests_sensor", "run_failure_alert", "check_failure_alert",
            "freshness_sensor", "run_frames_sweeper")}
    # every schedule picks its orgs from the connection flags, so every one is on by default
    assert {s.name: (s.cron_schedule, s.default_status) for s in defs.schedules} == {
        "daily_audience_sync": ("0 5 * * *", DefaultScheduleStatus.RUNNING),
        "hourly_member_status_pull": ("30 * * * *", DefaultScheduleStatus.RUNNING),
        "campaign_stats_refresh": ("0 */6 * * *", DefaultScheduleStatus.RUNNING),
        "daily_housekeeping": ("15 3 * * *", DefaultScheduleStatus.RUNNING)}
    assert defs.resolve_job_def("gdpr_erasure").name == "gdpr_erasure"
