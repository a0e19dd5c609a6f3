"""Housekeeping: history older than the retention period goes (sync runs, sync errors, processed
webhook events, finished Dagster runs with their event logs); recent rows, the newest run of each
org, unfinished work and the whole audit log stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from dagster import DagsterRun, DagsterRunStatus, build_schedule_context, instance_for_test

from mc_pipelines.automation.housekeeping import (
    RETENTION_DAYS_ENV,
    daily_housekeeping,
    housekeeping,
    housekeeping_run_config,
)
from mc_pipelines.store.clock import utcnow
from mc_pipelines.store.tables import audit_log, mailchimp_webhook_events, sync_errors, sync_runs
from mc_pipelines_tests.support.db import app_db

NOW = utcnow()


def days_ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def add_run(engine, name: str, org: str, age: int, status: str = "success") -> None:
    with engine.begin() as conn:
        conn.execute(sync_runs.insert().values(
            id=name, org_id=org, kind="audience_sync", dry_run=False, dagster_run_id=None,
            started_at=days_ago(age), finished_at=None if status == "running" else days_ago(age),
            status=status, summary={}))
        conn.execute(sync_errors.insert().values(
            id=f"{name}-e", run_id=name, org_id=org, audience_id="aud1", contact_id=1,
            email="ann@example.com", error_code="invalid", message="refused", at=days_ago(age)))


def add_event(engine, name: str, age: int, processed: bool) -> None:
    with engine.begin() as conn:
        conn.execute(mailchimp_webhook_events.insert().values(
            id=name, org_id="acme", audience_id="aud1", dedupe_key=name, event_type="unsubscribe",
            fired_at=days_ago(age), email="ann@example.com", payload={}, received_at=days_ago(age),
            processed_at=days_ago(age) if processed else None))


def ids(engine, table) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(table.c.id)).scalars())


def old_dagster_run(instance, age_days: int, status=DagsterRunStatus.SUCCESS) -> str:
    run = DagsterRun(job_name="audience_sync_job", run_id=str(uuid.uuid4()), status=status)
    instance.run_storage.add_historical_run(run, datetime.now(UTC) - timedelta(days=age_days))
    return run.run_id


def test_old_history_goes_recent_and_audit_stay(app_engine):
    add_run(app_engine, "acme-old", "acme", 200)
    add_run(app_engine, "acme-older", "acme", 300)
    add_run(app_engine, "acme-recent", "acme", 1)
    add_run(app_engine, "globex-only", "globex", 200)  # the org's newest run: the next one reads it
    add_run(app_engine, "initech-stuck", "initech", 200, status="running")
    add_run(app_engine, "initech-done", "initech", 100)
    add_event(app_engine, "ev-old", 120, processed=True)
    add_event(app_engine, "ev-old-pending", 120, processed=False)
    add_event(app_engine, "ev-recent", 3, processed=True)
    with app_engine.begin() as conn:
        conn.execute(audit_log.insert().values(id="audit-old", org_id="acme", at=days_ago(900),
                                               actor="test", action="connect", detail={}))

    with instance_for_test() as instance:
        old = old_dagster_run(instance, 120)
        old_failed = old_dagster_run(instance, 95, DagsterRunStatus.FAILURE)
        old_in_progress = old_dagster_run(instance, 120, DagsterRunStatus.STARTED)
        recent = old_dagster_run(instance, 10)
        result = housekeeping.execute_in_process(instance=instance, resources={"app_db": app_db(app_engine)},
                                                 run_config=housekeeping_run_config(90))
        assert result.success
        assert result.output_for_node("purge_old_history") == {
            "sync_runs": 2, "sync_errors": 2, "mailchimp_webhook_events": 1, "dagster_runs": 2}
        remaining = {r.run_id for r in instance.get_runs()}
        assert {recent, old_in_progress, result.run_id} <= remaining
        assert not {old, old_failed} & remaining
        assert not instance.all_logs(old)

    # initech: its newest run (100 days) and the one still running stay
    assert ids(app_engine, sync_runs) == {"acme-recent", "globex-only", "initech-stuck", "initech-done"}
    assert ids(app_engine, sync_errors) == {f"{run}-e" for run in ids(app_engine, sync_runs)}
    assert ids(app_engine, mailchimp_webhook_events) == {"ev-old-pending", "ev-recent"}
    assert "audit-old" in ids(app_engine, audit_log)


def test_daily_schedule_uses_the_configured_retention(monkeypatch):
    monkeypatch.setenv(RETENTION_DAYS_ENV, "30")
    with instance_for_test() as instance:
        context = build_schedule_context(instance=instance,
                                         scheduled_execution_time=datetime(2026, 5, 2, 3, 15, tzinfo=UTC))
        request = daily_housekeeping(context)
    assert request.run_key == "housekeeping-2026-05-02"
    assert request.run_config == {"ops": {"purge_old_history": {"config": {"retention_days": 30}}}}
