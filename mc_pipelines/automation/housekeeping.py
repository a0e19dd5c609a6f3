"""Housekeeping: the `housekeeping` job removes history older than the retention period — the
application's sync runs, per-row outcomes and processed webhook events (`store/retention.py`)
and Dagster's own finished runs with their event logs — and keeps the audit log. The
`daily_housekeeping` schedule runs it at 03:15 UTC (on by default); the period is the run
config's `retention_days`, default `MC_RETENTION_DAYS` or 90."""

import os
from datetime import UTC, datetime, timedelta

from dagster import (
    Config,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    MetadataValue,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    job,
    op,
    schedule,
)
from pydantic import Field

from mc_pipelines.automation.run_config import run_config_dict
from mc_pipelines.resources import AppDatabase
from mc_pipelines.store.retention import DEFAULT_RETENTION_DAYS, purge_history

RETENTION_DAYS_ENV = "MC_RETENTION_DAYS"
PURGE_OP = "purge_old_history"
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
RUNS_PER_PASS = 1000  # Dagster runs deleted per housekeeping run (the next one goes on)


def retention_days() -> int:
    """The configured retention period: `MC_RETENTION_DAYS`, default 90."""
    return int(os.environ.get(RETENTION_DAYS_ENV) or DEFAULT_RETENTION_DAYS)


class HousekeepingConfig(Config):
    """How old history must be to go."""

    retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=1,
                                description="Rows and Dagster runs older than this many days are removed.")


def purge_dagster_runs(instance: DagsterInstance, cutoff: datetime, limit: int = RUNS_PER_PASS) -> int:
    """Delete finished Dagster runs created before `cutoff` (aware UTC), with their event logs;
    returns how many. Runs still queued or in progress are never touched."""
    records = instance.get_run_records(RunsFilter(statuses=FINISHED, created_before=cutoff), limit=limit)
    for record in records:
        instance.delete_run(record.dagster_run.run_id)
    return len(records)


@op(name=PURGE_OP, description="Delete sync runs, sync errors, processed webhook events and finished "
    "Dagster runs (with their event logs) older than the retention period; the audit log is kept.")
def purge_old_history(context: OpExecutionContext, config: HousekeepingConfig,
                      app_db: AppDatabase) -> dict[str, int]:
    """Purge the application's history and Dagster's; returns rows/runs removed per kind."""
    cutoff = datetime.now(UTC) - timedelta(days=config.retention_days)
    removed = purge_history(app_db.engine, cutoff.replace(tzinfo=None))
    removed["dagster_runs"] = purge_dagster_runs(context.instance, cutoff)
    context.add_output_metadata({
        "retention_days": MetadataValue.int(config.retention_days),
        "cutoff": MetadataValue.text(cutoff.isoformat(timespec="seconds")),
        **{f"removed_{kind}": MetadataValue.int(n) for kind, n in removed.items()},
    })
    return removed


@job(name="housekeeping", description="Retention: remove history older than the retention period "
     "(default 90 days); the audit log is kept.", tags={"mc/kind": "housekeeping"})
def housekeeping() -> None:
    """The housekeeping job (one op; config `ops.purge_old_history.config.retention_days`)."""
    purge_old_history()


def housekeeping_run_config(days: int | None = None) -> dict:
    """Run config of `housekeeping` (default: `MC_RETENTION_DAYS` or 90 days)."""
    return run_config_dict({PURGE_OP: HousekeepingConfig(retention_days=days or retention_days())})


@schedule(
    name="daily_housekeeping",
    cron_schedule="15 3 * * *",
    execution_timezone="UTC",
    job=housekeeping,
    default_status=DefaultScheduleStatus.RUNNING,
    description=f"03:15 UTC: remove history older than {RETENTION_DAYS_ENV} days (default "
    f"{DEFAULT_RETENTION_DAYS}); the audit log is kept.",
)
def daily_housekeeping(context: ScheduleEvaluationContext) -> RunRequest:
    """One housekeeping run a day, run_key `housekeeping-<date>`."""
    day = (context.scheduled_execution_time or datetime.now(UTC)).date().isoformat()
    return RunRequest(run_key=f"housekeeping-{day}", run_config=housekeeping_run_config())


HOUSEKEEPING_JOBS = [housekeeping]
