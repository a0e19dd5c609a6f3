"""`audience_sync`: plan each audience in scope from the member lifecycle and push what changed."""


import time
from collections import Counter
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
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
    run_mailchimp,
    samples_markdown,
    table_metadata,
)
from mc_pipelines.effects.audience_sync import (
    AudienceOutcome,
    MergeFieldMapError,
    SyncSettings,
    sync_org,
)
from mc_pipelines.effects.push import COUNTS
from mc_pipelines.mailchimp.metrics import CallMetrics
from mc_pipelines.partitions import org_partitions
from mc_pipelines.resources import AppDatabase, MailchimpResource
from mc_pipelines.store import audit, connections, member_state, runs
from mc_pipelines.store import segments as segment_store
from mc_pipelines.store.contacts import CONTACT_COLUMNS
from mc_pipelines.sync import lifecycle as lc
from mc_pipelines.sync.app_tags import tag_name_problems, unique_tags
from mc_pipelines.sync.batching import plan_calls
from mc_pipelines.sync.diff import PLAN_FRAMES
from mc_pipelines.sync.scope import sync_scope

GUARD_CHECK = "mass_unsubscribe_guard"


class AudienceSyncConfig(Config):
    """Run config of the audience sync."""

    dry_run: bool = Field(default=False, description="Compute and report the plan; write nothing.")
    batch_size: int = Field(default=500, ge=1, le=500, description="Members per bulk call (Mailchimp's cap is 500).")
    allow_mass_unsubscribe: bool = Field(
        default=False, description="Send the unsubscribes the mass-unsubscribe guard holds back "
        "(this run only). Explicit consent withdrawals are always sent.")
    max_unsubscribe_fraction: float = Field(
        default=0.2, ge=0.0, le=1.0, description="The guard holds a run's non-explicit "
        "unsubscribes when they exceed this fraction of an audience's subscribed members…")
    min_guarded_unsubscribes: int = Field(
        default=50, ge=0, description="…and this many members.")
    new_member_tags: list[str] = Field(
        default_factory=list, description="Tags for the members this run creates (never existing "
        "or linked members), on top of the connection's `new_member_tags`.")


@asset(
    partitions_def=org_partitions,
    group_name=SYNC_GROUP,
    owners=OWNERS,
    kinds={"mailchimp", "pandas"},
    retry_policy=MAILCHIMP_RETRY,
    check_specs=[AssetCheckSpec(
        GUARD_CHECK, asset="audience_sync", blocking=True, partitions_def=org_partitions,
        description="Fails (ERROR, blocking) when the run held back unsubscribes because they would "
        "remove more than the allowed fraction of an audience's subscribed members for reasons "
        "other than consent withdrawal (a segment emptied, contacts deleted). Re-run with "
        "`allow_mass_unsubscribe` to send them.")],
    description=(
        "Keeps every audience in scope (the configured ones and every audience the project ever "
        "wrote to) in agreement with the member lifecycle contract: members whose write answer "
        "was lost or whose status is unknown are read back first; new members are created in "
        "bulk; field updates never carry a status; only consent withdrawals, deletions and exits "
        "are unsubscribed (held back by the mass-unsubscribe guard when too many); re-consent "
        "re-subscribes project-made unsubscribes and asks for double opt-in after Mailchimp-side "
        "opt-outs; archived, cleaned and foreign members are never touched; only managed tags "
        "move. Per-row outcomes go to sync_errors with contact ids. `dry_run` reports the plan."
    ),
)
def audience_sync(context: AssetExecutionContext, config: AudienceSyncConfig,
                  desired_members: pd.DataFrame, segment_summary: pd.DataFrame,
                  app_db: AppDatabase, mailchimp: MailchimpResource) -> MaterializeResult:
    """Read back, plan and push the org's audiences."""
    started = time.perf_counter()
    engine, org_id = app_db.engine, context.partition_key
    connection = connections.require_active_connection(engine, org_id)
    state = member_state.load_state(engine, org_id, columns=member_state.DIFF_COLUMNS)
    summary = segment_summary
    scope = sync_scope(connection.audience_id, summary, pd.unique(state["audience_id"]).tolist())
    settings = SyncSettings(
        existing_members=connection.existing_members, reconsent=connection.reconsent,
        guard=lc.GuardSettings(config.max_unsubscribe_fraction, config.min_guarded_unsubscribes,
                               config.allow_mass_unsubscribe),
        batch_size=config.batch_size, dry_run=config.dry_run,
        new_member_tags=_new_member_tags(connection.new_member_tags, config.new_member_tags))
    metrics = CallMetrics()
    run_id = None if config.dry_run else runs.start_run(
        engine, org_id, kind="audience_sync", dry_run=False, dagster_run_id=context.run_id)
    if not config.dry_run:
        segment_store.set_status(engine, org_id, _segments(summary, valid=True), "syncing")

    async def run() -> list[AudienceOutcome]:
        async with mailchimp.client_for(connection, metrics) as client:
            return await sync_org(client, engine, org_id, desired_members, state, scope,
                                  settings, connection.merge_fields or None, CONTACT_COLUMNS)

    try:
        outcomes = run_mailchimp(run())
    except Exception as exc:
        message = str(exc)
        if run_id is not None:
            runs.finish_run(engine, run_id, status="error", summary={"error": message}, org_id=org_id)
            segment_store.set_status(engine, org_id, summary["segment_id"].tolist() if len(summary) else [],
                                     "error", error=message)
            connections.record_sync_status(engine, org_id, status="error", error=message)
        if isinstance(exc, MergeFieldMapError):
            raise Failure(description=message, allow_retries=False) from None
        raise
    view = _RunView(outcomes, config.batch_size)
    guard = view.guard_result()
    if config.dry_run:
        return MaterializeResult(metadata={"dry_run": MetadataValue.bool(True), **view.metadata(),
                                           "new_member_tags": MetadataValue.json(list(settings.new_member_tags))},
                                 check_results=[guard])
    status = view.status()
    run_summary = {**view.totals, "skipped": len(view.skipped), "mailchimp_calls": metrics.total_calls,
                   "mailchimp_writes": metrics.total_writes, "mailchimp_retries": metrics.total_retries}
    runs.record_errors(engine, run_id, org_id, view.row_outcomes)
    runs.finish_run(engine, run_id, status=status, summary=run_summary, org_id=org_id)
    _record_segments(engine, org_id, summary, scope, outcomes)
    connections.record_sync_status(engine, org_id, status=status, error=None if status == "success" else
                                   f"{view.problem_count()} rows or audiences need attention; see "
                                   f"sync_errors for run {run_id}")
    with engine.begin() as conn:
        audit.record(conn, org_id=org_id, actor=f"dagster:{context.run_id}", action="sync",
                     detail={"run_id": run_id, **run_summary})
    return MaterializeResult(metadata={
        "status": MetadataValue.text(status),
        **view.metadata(),
        "mailchimp_calls": MetadataValue.int(metrics.total_calls),
        "mailchimp_write_calls": MetadataValue.int(metrics.total_writes),
        "mailchimp_retries": MetadataValue.int(metrics.total_retries),
        "duration_seconds": MetadataValue.float(round(time.perf_counter() - started, 3)),
        "sync_run_id": MetadataValue.text(run_id or ""),
        "error_samples": samples_markdown(view.row_outcomes),
        "calls_by_endpoint": MetadataValue.json(metrics.as_metadata()),
        "new_member_tags": MetadataValue.json(list(settings.new_member_tags)),
    }, check_results=[guard])


class _RunView:
    """The run's outcomes as a data engineer reads them: totals, skipped rows, the guard."""

    def __init__(self, outcomes: list[AudienceOutcome], batch_size: int) -> None:
        self.outcomes = outcomes
        self.batch_size = batch_size
        reports = [o.report for o in outcomes if o.report is not None]
        self.totals = {k: sum(r.counts[k] for r in reports) for k in COUNTS}
        self.row_outcomes = [row for r in reports for row in r.outcomes]
        self.row_outcomes += [{"audience_id": o.audience_id, "contact_id": None, "email": None,
                               "error_code": "audience_failed", "message": o.error}
                              for o in outcomes if o.error]
        frames = [o.plan.skipped.assign(audience_id=o.audience_id) for o in outcomes
                  if o.plan is not None and len(o.plan.skipped)]
        self.skipped = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["audience_id", "subscriber_hash", "contact_id", "email", "reason"])
        self.planned = {f"planned_{k}": sum(len(getattr(o.plan, k)) for o in outcomes if o.plan)
                        for k in PLAN_FRAMES}

    def held(self) -> list[dict[str, Any]]:
        return [{"audience_id": o.audience_id, **o.plan.guard} for o in self.outcomes
                if o.plan is not None and o.plan.guard.get("held")]

    def guard_result(self) -> AssetCheckResult:
        held = self.held()
        figures = [{"audience_id": o.audience_id, **o.plan.guard} for o in self.outcomes if o.plan]
        description = ("no audience would lose too many members" if not held else
                       "; ".join(f"audience {h['audience_id']}: {h['non_explicit_unsubscribes']} "
                                 f"unsubscribes held back of {h['subscribed']} subscribed members"
                                 for h in held) + " — re-run with allow_mass_unsubscribe to send them")
        return AssetCheckResult(
            check_name=GUARD_CHECK, asset_key="audience_sync", passed=not held,
            severity=AssetCheckSeverity.ERROR, description=description,
            metadata={"held_unsubscribes": MetadataValue.int(sum(h["non_explicit_unsubscribes"] for h in held)),
                      "audiences": MetadataValue.json(figures)})

    def status(self) -> str:
        return "success" if not self.problem_count() else "partial"

    def problem_count(self) -> int:
        needs = self.skipped["reason"].isin(list(lc.NEEDS_A_PERSON)).sum() if len(self.skipped) else 0
        return len(self.row_outcomes) + int(needs)

    def metadata(self) -> dict[str, MetadataValue]:
        reasons = Counter(self.skipped["reason"].tolist()) if len(self.skipped) else Counter()
        calls = sum(plan_calls(o.plan, self.batch_size).total for o in self.outcomes if o.plan)
        return {
            **numbers({**self.totals, "skipped": len(self.skipped)}),
            **numbers({f"skipped[{r}]": n for r, n in sorted(reasons.items())}),
            **numbers(self.planned),
            "planned_calls": MetadataValue.int(calls),
            "audiences": MetadataValue.json([
                {"audience_id": o.audience_id, "error": o.error, "frozen": o.frozen,
                 "read_back": o.readback.read if o.readback else 0,
                 **({k: len(getattr(o.plan, k)) for k in PLAN_FRAMES} if o.plan else {})}
                for o in self.outcomes]),
            "skipped_rows": table_metadata(self.skipped, ["audience_id", "contact_id", "email", "reason"],
                                           limit=25),
        }


def _new_member_tags(*given: list[str]) -> tuple[str, ...]:
    """The connection's and the run's new-member tags, checked (a bad name fails the run before
    any Mailchimp call, naming the fix)."""
    tags = [t for names in given for t in names or []]
    problems = tag_name_problems(tags, "new-member tag")
    if problems:
        raise Failure(description="; ".join(problems) + " (fix the connection option with "
                      "`mc-pipelines set-tag-options` or the run config)", allow_retries=False)
    return tuple(unique_tags(tags))


def _segments(summary: pd.DataFrame, *, valid: bool) -> list[int]:
    if not len(summary):
        return []
    return summary.loc[summary["error"].isna() == valid, "segment_id"].tolist()


def _record_segments(engine, org_id: str, summary: pd.DataFrame, scope, outcomes) -> None:
    """Segments end `synced`, or `error` with the reason: invalid filters (C2) or a missing
    audience (C3)."""
    failed = {o.audience_id: o.error for o in outcomes if o.error}
    for row in summary.to_dict("records") if len(summary) else []:
        audience = row.get("audience_id") or (scope.audiences[0] if scope.audiences else None)
        if row.get("error") is not None and not pd.isna(row.get("error")):
            segment_store.set_status(engine, org_id, [row["segment_id"]], "error",
                                     error=f"invalid segment: {row['error']}")
        elif audience in failed:
            segment_store.set_status(engine, org_id, [row["segment_id"]], "error", error=failed[audience])
        else:
            segment_store.set_status(engine, org_id, [row["segment_id"]], "synced")
