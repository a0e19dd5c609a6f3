"""`audience_sync`: plan each audience in scope from the member lifecycle and push what changed."""


import asyncio
import time
from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetObservation,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)
from pydantic import Field

from mc_pipelines.assets.common import MAILCHIMP_RETRY, OWNERS, SYNC_GROUP, run_mailchimp
from mc_pipelines.assets.dry_run import run_is_dry
from mc_pipelines.assets.same_run import PUSH_UPSTREAM, require_same_run
from mc_pipelines.assets.settled import fingerprints_of_this_run, run_settings
from mc_pipelines.assets.sync_checks import (
    DEFAULT_MAX_FAILED_ROW_RATE,
    GUARD_CHECK,
    SYNC_CHECK_SPECS,
    sync_check_results,
)
from mc_pipelines.assets.sync_record import record_sync
from mc_pipelines.assets.sync_view import RunView
from mc_pipelines.effects.audience_sync import (
    AudienceOutcome,
    MergeFieldMapError,
    SyncSettings,
    sync_org,
)
from mc_pipelines.effects.settle import settled_state
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.metrics import CallMetrics
from mc_pipelines.partitions import org_partitions
from mc_pipelines.resources import AppDatabase, MailchimpResource
from mc_pipelines.store import connections, member_state, runs, settled
from mc_pipelines.store import segments as segment_store
from mc_pipelines.store.contacts import CONTACT_COLUMNS
from mc_pipelines.sync import lifecycle as lc
from mc_pipelines.sync.app_tags import tag_name_problems, unique_tags
from mc_pipelines.sync.scope import sync_scope

__all__ = ["GUARD_CHECK", "AudienceSyncConfig", "audience_sync"]


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
    max_failed_row_rate: float = Field(
        default=DEFAULT_MAX_FAILED_ROW_RATE, ge=0.0, le=1.0,
        description="The `failed_row_rate` check warns when more than this fraction of the rows "
        "the run tried to write were refused or failed.")


@asset(
    partitions_def=org_partitions,
    group_name=SYNC_GROUP,
    owners=OWNERS,
    kinds={"mailchimp", "pandas"},
    retry_policy=MAILCHIMP_RETRY,
    check_specs=SYNC_CHECK_SPECS,
    output_required=False,  # a dry run records its plan as an observation, not a materialization
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
                  app_db: AppDatabase, mailchimp: MailchimpResource
                  ) -> Iterator[MaterializeResult | AssetObservation | Output]:
    """Read back, plan and push the org's audiences (a dry run: plan only, as an observation)."""
    require_same_run(context, "audience_sync", PUSH_UPSTREAM)
    dry_run = run_is_dry(context)
    started = time.perf_counter()
    engine, org_id = app_db.engine, context.partition_key
    connection = connections.require_active_connection(engine, org_id)
    app_before, state_before = fingerprints_of_this_run(context)  # taken before the contacts were read
    state = member_state.load_state(engine, org_id, columns=member_state.DIFF_COLUMNS)
    summary = segment_summary
    scope = sync_scope(connection.audience_id, summary, pd.unique(state["audience_id"]).tolist())
    settings = SyncSettings(
        existing_members=connection.existing_members, reconsent=connection.reconsent,
        guard=lc.GuardSettings(config.max_unsubscribe_fraction, config.min_guarded_unsubscribes,
                               config.allow_mass_unsubscribe),
        batch_size=config.batch_size, dry_run=dry_run,
        new_member_tags=_new_member_tags(connection.new_member_tags, config.new_member_tags))
    metrics = CallMetrics()
    run_id = None if dry_run else runs.start_run(
        engine, org_id, kind="audience_sync", dry_run=False, dagster_run_id=context.run_id)
    if not dry_run:
        segment_store.set_status(engine, org_id, _segments(summary, valid=True), "syncing")

    async def run() -> tuple[list[AudienceOutcome], dict[str, str | None], str | None]:
        nonlocal state
        async with mailchimp.client_for(connection, metrics) as client:
            outcomes = await sync_org(client, engine, org_id, desired_members, state, scope,
                                      settings, connection.merge_fields or None, CONTACT_COLUMNS)
            # the state read for the plan goes before the settle reads the state the push left:
            # one million-row state in memory at a time (~0.45 GB at 1M members)
            del state
            names = await _audience_names(client, [o.audience_id for o in outcomes if not o.error])
            settled_at = None if dry_run or app_before is None else await settled_state(
                client, engine, org_id, desired_members, scope, settings,
                connection.merge_fields or None, CONTACT_COLUMNS, outcomes, state_before)
            return outcomes, names, settled_at

    try:
        outcomes, names, state_after = run_mailchimp(run())
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
    view = RunView(outcomes, config.batch_size, names, full_emails=app_db.full_emails_in_metadata)
    if dry_run:  # the plan, never recorded as a materialization of the synced state
        yield AssetObservation(asset_key=context.asset_key, partition=org_id, metadata={
            **view.plan_metadata(), "mailchimp_calls": MetadataValue.int(metrics.total_calls),
            "new_member_tags": MetadataValue.json(list(settings.new_member_tags)),
            "duration_seconds": MetadataValue.float(round(time.perf_counter() - started, 3))})
        yield from _checks_not_evaluated(context)
        return
    _record_segments(engine, org_id, summary, scope, outcomes)
    record_sync(engine, org_id, run_id, view, {
        "mailchimp_calls": metrics.total_calls, "mailchimp_writes": metrics.total_writes,
        "mailchimp_retries": metrics.total_retries}, actor=f"dagster:{context.run_id}")
    fingerprint = settled.combine(app_before, state_after[0] if state_after else None, run_settings(context))
    settled.record(engine, org_id, fingerprint, run_id, state_after[1] if state_after else [])
    metadata = view.metadata()
    samples = {k: metadata.pop(k) for k in ("error_samples", "skipped_rows")}
    yield MaterializeResult(metadata={
        **metadata,
        "mailchimp_calls": MetadataValue.int(metrics.total_calls),
        "mailchimp_write_calls": MetadataValue.int(metrics.total_writes),
        "mailchimp_retries": MetadataValue.int(metrics.total_retries),
        "duration_seconds": MetadataValue.float(round(time.perf_counter() - started, 3)),
        "sync_run_id": MetadataValue.text(run_id or ""),
        **samples,
        "calls_by_endpoint": MetadataValue.json(metrics.as_metadata()),
        "new_member_tags": MetadataValue.json(list(settings.new_member_tags)),
        "settled": MetadataValue.bool(fingerprint is not None),
    }, check_results=[r for r in sync_check_results(view, config.max_failed_row_rate)
                      if r.check_name in {k.name for k in context.selected_asset_check_keys}])


def _checks_not_evaluated(context: AssetExecutionContext) -> Iterator[Output]:
    """A dry run evaluates no check (there is no materialization to check): each selected check's
    output is closed without a result, so the UI shows the check as not evaluated in this run."""
    for key in context.selected_asset_check_keys:
        yield Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(key))


async def _audience_names(client: MailchimpClient, audience_ids: list[str]) -> dict[str, str | None]:
    """Each audience's name as Mailchimp shows it (None when it cannot be read)."""
    async def name(audience_id: str) -> str | None:
        try:
            return (await client.get_audience(audience_id)).get("name")
        except Exception:  # a name is a label: its absence must never fail the sync
            return None
    found = await asyncio.gather(*[name(a) for a in audience_ids])
    return dict(zip(audience_ids, found, strict=True))


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
