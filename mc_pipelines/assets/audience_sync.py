"""`audience_sync`: diff the desired audiences against what was pushed, and push what changed."""


import asyncio
import time

import pandas as pd
from dagster import (
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from mc_pipelines.assets.common import (
    MAILCHIMP_RETRY,
    OWNERS,
    SYNC_GROUP,
    numbers,
    org_audiences,
    run_mailchimp,
    samples_markdown,
    table_metadata,
)
from mc_pipelines.assets.member_status import mailchimp_member_status
from mc_pipelines.effects.push import creating_hashes, push_audience, tags_by_hash
from mc_pipelines.mailchimp.metrics import CallMetrics
from mc_pipelines.partitions import org_partitions
from mc_pipelines.resources import AppDatabase, MailchimpResource
from mc_pipelines.store import audit, connections, member_state, runs
from mc_pipelines.store import segments as segment_store
from mc_pipelines.store.contacts import CONTACT_COLUMNS
from mc_pipelines.sync.batching import plan_calls
from mc_pipelines.sync.desired import check_merge_field_map
from mc_pipelines.sync.diff import AudiencePlan, diff_audience

PLAN_COUNTS = ("creates", "updates", "unsubscribes", "tag_adds", "tag_removes", "skipped")


class AudienceSyncConfig(Config):
    """Run config of the audience sync."""

    dry_run: bool = Field(default=False, description="Compute and report the plan; write nothing.")
    batch_size: int = Field(default=500, ge=1, le=500, description="Members per bulk call (Mailchimp's cap is 500).")


def _plan_size(plan: AudiencePlan) -> dict[str, int]:
    return {k: len(getattr(plan, k)) for k in PLAN_COUNTS}


class _SyncRun:
    """One org's sync: plans per audience, pushes, records run/segment/connection outcomes."""

    def __init__(self, context: AssetExecutionContext, config: AudienceSyncConfig, engine,
                 mailchimp: MailchimpResource, desired: pd.DataFrame, segment_summary: pd.DataFrame) -> None:
        self.context, self.config, self.engine, self.mailchimp = context, config, engine, mailchimp
        self.org_id = context.partition_key
        self.desired = desired
        self.connection = connections.require_active_connection(engine, self.org_id)
        # segment_members already read the segments: their audiences come with its summary
        self.audiences = org_audiences(self.connection, segment_summary)
        self.metrics = CallMetrics()

    def plans(self, state: pd.DataFrame) -> dict[str, AudiencePlan]:
        plans = {}
        for audience in self.audiences:
            desired = _rows_of(self.desired, audience)
            current = _rows_of(state, audience)
            plans[audience] = diff_audience(desired, current)
        return plans

    async def check_audiences(self, client) -> None:
        """Fail early, with what to fix, if an audience is missing or lacks a mapped merge field."""
        problems = []
        for audience in self.audiences:
            fields = await client.list_merge_fields(audience)
            problems += [f"audience {audience}: {p}" for p in check_merge_field_map(
                self.connection.merge_fields or {}, fields, CONTACT_COLUMNS)]
        if problems:
            raise Failure(description="merge field mapping does not fit the audience: " + "; ".join(problems),
                          allow_retries=False)

    async def push(self, plans: dict[str, AudiencePlan], state: pd.DataFrame):
        async with self.mailchimp.client_for(self.connection, self.metrics) as client:
            await self.check_audiences(client)
            reports = await asyncio.gather(*[
                push_audience(client, self.engine, self.org_id, audience, plan,
                              _current_tags(state, audience, plan),
                              batch_size=self.config.batch_size,
                              interrupted=creating_hashes(_rows_of(state, audience)))
                for audience, plan in plans.items()
            ])
        return reports


@asset(
    partitions_def=org_partitions,
    deps=[mailchimp_member_status],
    group_name=SYNC_GROUP,
    owners=OWNERS,
    kinds={"mailchimp", "pandas"},
    retry_policy=MAILCHIMP_RETRY,
    description=(
        "Pushes to Mailchimp only what changed since the last sync, in bulk: new members by batch "
        "subscribe (≤500 a call, never overwriting existing members), changed members with the "
        "status Mailchimp holds now (no status flip), withdrawn consent as explicit unsubscribes, "
        "managed tags as static-segment add/remove batches. Marketer-made tags and members the "
        "project did not add are never touched. Per-row outcomes go to sync_errors with contact "
        "ids; failed rows are retried next run. `dry_run` reports the plan without writing."
    ),
)
def audience_sync(context: AssetExecutionContext, config: AudienceSyncConfig,
                  desired_members: pd.DataFrame, segment_summary: pd.DataFrame,
                  app_db: AppDatabase, mailchimp: MailchimpResource) -> MaterializeResult:
    """Diff and push the org's audiences (`desired_members`) to the audiences the org and its
    segments name (`segment_summary`)."""
    started = time.perf_counter()
    engine = app_db.engine
    sync = _SyncRun(context, config, engine, mailchimp, desired_members, segment_summary)
    org_id = sync.org_id
    state = member_state.load_state(engine, org_id, columns=member_state.DIFF_COLUMNS)
    plans = sync.plans(state)
    planned = {a: _plan_size(p) for a, p in plans.items()}
    planned_calls = sum(plan_calls(p, config.batch_size).total for p in plans.values())
    context.log.info(f"org {org_id}: plan {planned}, {planned_calls} bulk calls")
    plan_totals = {f"planned_{k}": sum(p[k] for p in planned.values()) for k in PLAN_COUNTS}
    summary = segment_summary
    segment_ids = summary["segment_id"].tolist() if len(summary) else []

    if config.dry_run:
        return MaterializeResult(metadata={
            "dry_run": MetadataValue.bool(True),
            **numbers(plan_totals), "planned_calls": MetadataValue.int(planned_calls),
            "plan": MetadataValue.json(planned),
            **_previews(plans),
        })

    run_id = runs.start_run(engine, org_id, kind="audience_sync", dry_run=False, dagster_run_id=context.run_id)
    segment_store.set_status(engine, org_id, _valid_segments(summary), "syncing")
    try:
        reports = run_mailchimp(sync.push(plans, state))
    except Exception as exc:
        message = exc.description if isinstance(exc, Failure) else str(exc)
        runs.finish_run(engine, run_id, status="error", summary={"error": message, **plan_totals}, org_id=org_id)
        segment_store.set_status(engine, org_id, segment_ids, "error", error=message)
        connections.record_sync_status(engine, org_id, status="error", error=message)
        raise
    outcomes = [o for r in reports for o in r.outcomes]
    runs.record_errors(engine, run_id, org_id, outcomes)
    totals = {k: sum(r.counts()[k] for r in reports) for k in reports[0].counts()} if reports else {}
    skipped = sum(len(p.skipped) for p in plans.values())
    # any per-row outcome (transient failure or terminal rejection) needs someone's attention
    status = "success" if not outcomes else "partial"
    run_summary = {**totals, "skipped": skipped, "mailchimp_calls": sync.metrics.total_calls,
                   "mailchimp_writes": sync.metrics.total_writes, "mailchimp_retries": sync.metrics.total_retries}
    runs.finish_run(engine, run_id, status=status, summary=run_summary, org_id=org_id)
    segment_store.set_status(engine, org_id, _valid_segments(summary), "synced")
    for segment_id, problem in _invalid_segments(summary):
        segment_store.set_status(engine, org_id, [segment_id], "error", error=f"invalid segment: {problem}")
    connections.record_sync_status(engine, org_id, status=status,
                                   error=None if status == "success" else f"{len(outcomes)} rows need attention; see sync_errors for run {run_id}")
    with engine.begin() as conn:
        audit.record(conn, org_id=org_id, actor=f"dagster:{context.run_id}", action="sync",
                     detail={"run_id": run_id, **run_summary})
    duration = time.perf_counter() - started
    return MaterializeResult(metadata={
        **numbers({**totals, "skipped": skipped}),
        **numbers(plan_totals),
        "mailchimp_calls": MetadataValue.int(sync.metrics.total_calls),
        "mailchimp_write_calls": MetadataValue.int(sync.metrics.total_writes),
        "mailchimp_retries": MetadataValue.int(sync.metrics.total_retries),
        "planned_calls": MetadataValue.int(planned_calls),
        "duration_seconds": MetadataValue.float(round(duration, 3)),
        "sync_run_id": MetadataValue.text(run_id),
        "status": MetadataValue.text(status),
        "error_samples": samples_markdown(outcomes),
        "calls_by_endpoint": MetadataValue.json(sync.metrics.as_metadata()),
        **_previews(plans),
    })


def _rows_of(frame: pd.DataFrame, audience: str) -> pd.DataFrame:
    """The rows of one audience; the frame itself when they all are (most orgs have one
    audience: no million-row copy)."""
    mask = (frame["audience_id"] == audience).to_numpy(dtype=bool)
    return frame if mask.all() else frame[mask]


def _current_tags(state: pd.DataFrame, audience: str, plan: AudiencePlan) -> dict[str, set[str]]:
    """Managed tags of the members whose tags the plan moves: all the push reads of them (a
    dict for the whole audience would cost seconds at a million members)."""
    moved: set[str] = set()
    for frame in (plan.tag_adds, plan.tag_removes):
        if len(frame):
            moved.update(frame["subscriber_hash"].tolist())
    if not moved:
        return {}
    return tags_by_hash(state[(state["audience_id"] == audience) & state["subscriber_hash"].isin(moved)])


def _valid_segments(summary: pd.DataFrame) -> list[int]:
    return summary.loc[summary["error"].isna(), "segment_id"].tolist() if len(summary) else []


def _invalid_segments(summary: pd.DataFrame) -> list[tuple[int, str]]:
    """(segment id, what is wrong with it) of every segment whose filters could not be used."""
    if not len(summary):
        return []
    invalid = summary[summary["error"].notna()]
    return list(zip(invalid["segment_id"].tolist(), invalid["error"].tolist(), strict=True))


def _previews(plans: dict[str, AudiencePlan]) -> dict[str, MetadataValue]:
    creates = pd.concat([p.creates.assign(audience_id=a) for a, p in plans.items() if len(p.creates)]) \
        if any(len(p.creates) for p in plans.values()) else pd.DataFrame()
    return {"preview_creates": table_metadata(creates, ["audience_id", "contact_id", "email"])} if len(creates) \
        else {}
