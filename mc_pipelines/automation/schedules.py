"""Schedules: the daily audience sync (auto_sync orgs), the hourly member-status pull (every
enabled org) and the 6-hourly campaign stats refresh, fanned out per org. All three are on by
default (`default_status=RUNNING`): each selects its orgs from the flags, so a deployment does
what the connections say without anyone switching schedules on; turn one off in the UI
(*Automation*) or with `dagster schedule stop <name>` (README, "Automation defaults").

Each RunRequest targets one org partition, is tagged `org=<id>` (one run per org at a time, see
dagster.yaml) and has a run key made of the tick and the org, so a re-evaluated tick never
launches a second run. Schedules cannot return partition requests, so an active org whose
partition `org_partitions_sensor` has not added yet gets it here directly.
"""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)
from sqlalchemy.engine import Engine

from mc_pipelines.automation.housekeeping import daily_housekeeping
from mc_pipelines.automation.jobs import audience_sync_job, campaign_stats_job, member_status_job
from mc_pipelines.automation.run_config import ensure_org_partitions, org_tags
from mc_pipelines.resources import AppDatabase
from mc_pipelines.store import connections
from mc_pipelines.store.campaigns import orgs_with_campaigns_to_refresh
from mc_pipelines.sync.campaign_window import DEFAULT_WINDOW_DAYS

CAMPAIGN_WINDOW_DAYS = DEFAULT_WINDOW_DAYS


def _tick_time(context: ScheduleEvaluationContext) -> datetime:
    """The scheduled time of the tick, as naive UTC (the database convention)."""
    scheduled = context.scheduled_execution_time or datetime.now(UTC)
    if scheduled.tzinfo is not None:
        scheduled = scheduled.astimezone(UTC).replace(tzinfo=None)
    return scheduled


def fan_out(context: ScheduleEvaluationContext, org_ids: Iterable[str],
            run_key: Callable[[str], str], what: str) -> list[RunRequest] | SkipReason:
    """One RunRequest per org (partition added if missing), or a SkipReason naming `what`."""
    org_ids = sorted(set(org_ids))
    if not org_ids:
        return SkipReason(f"no org {what}")
    added = ensure_org_partitions(context.instance, org_ids)
    if added:
        context.log.info(f"added org partitions {added} before the sensor did")
    return [RunRequest(run_key=run_key(org), partition_key=org, tags=org_tags(org)) for org in org_ids]


def auto_sync_org_ids(engine: Engine) -> list[str]:
    """Orgs with an active connection and auto_sync on."""
    return [c.org_id for c in connections.list_connections(engine) if c.active and c.auto_sync]


@schedule(
    name="daily_audience_sync",
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    job=audience_sync_job,
    default_status=DefaultScheduleStatus.RUNNING,
    description="05:00 UTC: the audience sync of every connected, enabled org with auto_sync on.",
)
def daily_audience_sync(context: ScheduleEvaluationContext,
                        app_db: AppDatabase) -> list[RunRequest] | SkipReason:
    """A run per auto-syncing org, run_key `daily-<date>-<org>`."""
    day = _tick_time(context).date().isoformat()
    return fan_out(context, auto_sync_org_ids(app_db.engine), lambda org: f"daily-{day}-{org}",
                   "has auto_sync on with an active connection")


@schedule(
    name="campaign_stats_refresh",
    cron_schedule="0 */6 * * *",
    execution_timezone="UTC",
    job=campaign_stats_job,
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Every 6 hours: refresh campaign stats of active orgs with campaigns still moving "
        f"(non-terminal, or sent within the last {CAMPAIGN_WINDOW_DAYS} days)."
    ),
)
def campaign_stats_refresh(context: ScheduleEvaluationContext,
                           app_db: AppDatabase) -> list[RunRequest] | SkipReason:
    """A run per active org with campaigns to refresh, run_key `campaigns-<tick>-<org>`."""
    now = _tick_time(context)
    orgs = orgs_with_campaigns_to_refresh(app_db.engine, now, CAMPAIGN_WINDOW_DAYS)
    tick = now.strftime("%Y-%m-%dT%H:%M")
    return fan_out(context, orgs, lambda org: f"campaigns-{tick}-{org}",
                   "has campaigns to refresh and an active connection")


@schedule(
    name="hourly_member_status_pull",
    cron_schedule="30 * * * *",  # half past: clear of the 05:00 sync and the 6-hourly campaign runs
    execution_timezone="UTC",
    job=member_status_job,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every hour at :30 UTC: pull member statuses changed in Mailchimp (opt-outs, cleaned, "
    "form re-subscribes) for every connected, enabled org, without a push.",
)
def hourly_member_status_pull(context: ScheduleEvaluationContext,
                              app_db: AppDatabase) -> list[RunRequest] | SkipReason:
    """A pull-only run per active org, run_key `status-<tick>-<org>`."""
    tick = _tick_time(context).strftime("%Y-%m-%dT%H:%M")
    return fan_out(context, connections.active_org_ids(app_db.engine), lambda org: f"status-{tick}-{org}",
                   "has an active connection")


SCHEDULES: list[ScheduleDefinition] = [daily_audience_sync, hourly_member_status_pull, campaign_stats_refresh,
                                       daily_housekeeping]
