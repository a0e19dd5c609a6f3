"""Freshness of what runs unattended, per org: is each auto-sync org's audience synced, and are
the stats of each org with moving campaigns refreshed, as often as the schedules promise?

Dagster's own freshness (`FreshnessPolicy`, the superseded `build_last_update_freshness_checks`)
judges an asset as a whole: with one partition per org, any org's run would make every org look
fresh. So each rule here looks at the latest materialization of **each org's partition**, for the
orgs the schedule is due to run for:

- `sync_is_fresh` on `audience_sync`: every active org with `auto_sync` on has a sync newer than
  26 h (the daily 05:00 UTC run plus slack): a materialization, or a sync that found nothing
  changed since a settled one (`assets.settled`, an observation). A dry run never counts.
- `stats_are_fresh` on `campaign_stats`: every active org with campaigns to refresh has stats
  newer than 7 h (the 6-hourly refresh plus slack).

An org connected more recently than the limit is not late yet. Both are asset checks (WARN,
listing the late orgs) that can be executed from the UI, and `freshness_sensor` (on by default,
hourly) evaluates them without launching a run, recording a result when the set of late orgs
changes (and at least daily). They are left out of the jobs' runs (`automation/jobs.py`), so a
sync run does not pay for a step that looks at every org.
"""


from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DefaultSensorStatus,
    MetadataValue,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset_check,
    sensor,
)
from sqlalchemy.engine import Engine

from mc_pipelines.assets.settled import SETTLED_BY
from mc_pipelines.resources import AppDatabase
from mc_pipelines.store import connections
from mc_pipelines.store.campaigns import orgs_with_campaigns_to_refresh
from mc_pipelines.store.clock import utcnow
from mc_pipelines.sync.campaign_window import DEFAULT_WINDOW_DAYS

SYNC_MAX_AGE = timedelta(hours=26)   # due daily at 05:00 UTC
STATS_MAX_AGE = timedelta(hours=7)   # due every 6 hours
REPEAT_AFTER = timedelta(hours=24)   # the sensor records an unchanged result at least daily


@dataclass(frozen=True)
class FreshnessRule:
    """Which orgs must have a materialization of `asset` younger than `max_age`."""

    check_name: str
    asset: str
    max_age: timedelta
    due: str                                             # what the schedule promises, in words
    orgs: Callable[[Engine, datetime], list[str]]        # the orgs the rule applies to at `now`
    what: str                                            # those orgs, in words


def _auto_sync_orgs(engine: Engine, _now: datetime) -> list[str]:
    # imported here: the jobs (imported by the schedules) leave these checks out of their runs
    from mc_pipelines.automation.schedules import auto_sync_org_ids

    return auto_sync_org_ids(engine)


RULES = (
    FreshnessRule("sync_is_fresh", "audience_sync", SYNC_MAX_AGE, "daily at 05:00 UTC",
                  _auto_sync_orgs, "auto-sync orgs"),
    FreshnessRule("stats_are_fresh", "campaign_stats", STATS_MAX_AGE, "every 6 hours",
                  lambda engine, now: orgs_with_campaigns_to_refresh(engine, now, DEFAULT_WINDOW_DAYS),
                  "orgs with campaigns to refresh"),
)


@dataclass(frozen=True)
class Verdict:
    """One evaluation of a rule: the late orgs and why."""

    rule: FreshnessRule
    orgs: list[str]
    late: dict[str, str]   # org → why it is late

    @property
    def passed(self) -> bool:
        return not self.late

    def description(self) -> str:
        limit = f"{self.rule.max_age.total_seconds() / 3600:.0f} h"
        if self.passed:
            return f"all {len(self.orgs)} {self.rule.what} updated within {limit} (due {self.rule.due})"
        return (f"{len(self.late)} of {len(self.orgs)} {self.rule.what} late (due {self.rule.due}, "
                f"late after {limit}): " + "; ".join(f"{o}: {why}" for o, why in sorted(self.late.items())))

    def metadata(self) -> dict[str, MetadataValue]:
        return {"late_orgs": MetadataValue.json(sorted(self.late)),
                "orgs_checked": MetadataValue.int(len(self.orgs)),
                "max_age_hours": MetadataValue.float(self.rule.max_age.total_seconds() / 3600)}


def _last_update(instance: DagsterInstance, asset: str, org: str) -> datetime | None:
    """The org's latest materialization of `asset`, or its latest observation as still in
    agreement by a sync that found nothing changed (`assets.settled`; a dry run's plan never
    counts)."""
    records = AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[org])
    times = [r.timestamp for r in instance.fetch_materializations(records, limit=1).records]
    times += [r.timestamp for r in instance.fetch_observations(records, limit=10).records
              if SETTLED_BY in r.asset_observation.metadata][:1]
    return datetime.fromtimestamp(max(times), UTC).replace(tzinfo=None) if times else None


def evaluate(rule: FreshnessRule, instance: DagsterInstance, engine: Engine, now: datetime) -> Verdict:
    """The rule at `now` (naive UTC): each org's latest materialization against the limit."""
    orgs = rule.orgs(engine, now)
    late = {}
    for org in orgs:
        last = _last_update(instance, rule.asset, org)
        if last is not None and now - last <= rule.max_age:
            continue
        connection = connections.get_connection(engine, org)
        since = connection.connected_at if connection else None
        if last is None and since is not None and now - since <= rule.max_age:
            continue  # connected recently: not due yet
        hours = (now - last).total_seconds() / 3600 if last else None
        late[org] = f"last update {hours:.0f} h ago" if hours is not None else "never updated"
    return Verdict(rule, orgs, late)


def _check_result(rule: FreshnessRule, context: AssetCheckExecutionContext, app_db: AppDatabase) -> AssetCheckResult:
    verdict = evaluate(rule, context.instance, app_db.engine, utcnow())
    return AssetCheckResult(passed=verdict.passed, severity=AssetCheckSeverity.WARN,
                            description=verdict.description(), metadata=verdict.metadata())


def _description(rule: FreshnessRule) -> str:
    return (f"Warns when any of the {rule.what} has no {rule.asset} materialization in the last "
            f"{rule.max_age.total_seconds() / 3600:.0f} h (due {rule.due}); lists the late orgs. "
            "Evaluated hourly by freshness_sensor.")


@asset_check(asset="audience_sync", name="sync_is_fresh", description=_description(RULES[0]))
def sync_is_fresh(context: AssetCheckExecutionContext, app_db: AppDatabase) -> AssetCheckResult:
    """Every auto-sync org synced within 26 h."""
    return _check_result(RULES[0], context, app_db)


@asset_check(asset="campaign_stats", name="stats_are_fresh", description=_description(RULES[1]))
def stats_are_fresh(context: AssetCheckExecutionContext, app_db: AppDatabase) -> AssetCheckResult:
    """Every org with campaigns to refresh refreshed within 7 h."""
    return _check_result(RULES[1], context, app_db)


FRESHNESS_CHECKS = [sync_is_fresh, stats_are_fresh]


def _unchanged(instance: DagsterInstance, verdict: Verdict, now: datetime) -> bool:
    """True when the last recorded result has the same late orgs and is less than a day old."""
    key = AssetCheckKey(AssetKey(verdict.rule.asset), verdict.rule.check_name)
    record = instance.event_log_storage.get_asset_check_summary_records([key])[key]
    last = record.last_completed_check_execution_record
    if last is None or last.event is None or last.event.asset_check_evaluation is None:
        return False
    evaluation = last.event.asset_check_evaluation
    late = evaluation.metadata.get("late_orgs")
    recorded = datetime.fromtimestamp(last.event.timestamp, UTC).replace(tzinfo=None)
    return (late is not None and late.value == sorted(verdict.late)
            and now - recorded < REPEAT_AFTER)


@sensor(name="freshness_sensor", minimum_interval_seconds=3600, default_status=DefaultSensorStatus.RUNNING,
        description="Hourly: evaluates sync_is_fresh and stats_are_fresh per org without launching a "
        "run; records a result when the late orgs change (and at least daily).")
def freshness_sensor(context: SensorEvaluationContext, app_db: AppDatabase) -> SensorResult | SkipReason:
    """Evaluate every freshness rule; report the results that changed."""
    now = utcnow()
    events = []
    for rule in RULES:
        verdict = evaluate(rule, context.instance, app_db.engine, now)
        if _unchanged(context.instance, verdict, now):
            continue
        events.append(AssetCheckEvaluation(
            asset_key=AssetKey(rule.asset), check_name=rule.check_name, passed=verdict.passed,
            severity=AssetCheckSeverity.WARN, description=verdict.description(),
            metadata=verdict.metadata()))
    if not events:
        return SkipReason("freshness unchanged since the last recorded results")
    return SensorResult(asset_events=events)
