"""A sync whose inputs have not changed since a sync that left nothing to do is not planned again.

`source_contacts` takes the fingerprint of the org's application rows before it reads them, and
of the member state the pull just brought up to date (`store.settled`). When together with the
run's settings they match the fingerprint the org's last settled sync recorded, the plan would be
empty again: `source_contacts` yields nothing, so Dagster skips the cohort, the segments and
`audience_sync` (the run succeeds, those steps show as skipped), and records instead

- an observation of `source_contacts` and of `audience_sync` (`settled_by_sync_run`, 0 writes):
  the audience is still in agreement — `freshness.sync_is_fresh` counts it as a sync;
- a `sync_runs` row (status `success`, summary `unchanged_since`), the connection's last sync,
  the synced segments' last sync and an audit entry, as any sync does, so the application shows
  the outcome of "Sync now".

Only a run of the sync chain itself (nothing else downstream selected), never a dry run, and only
on PostgreSQL (SQLite has no fingerprint). `audience_sync` records the fingerprint when a sync
settles the org (`settle`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    MetadataValue,
)
from sqlalchemy.engine import Engine

from mc_pipelines.assets.dry_run import run_is_dry
from mc_pipelines.assets.same_run import latest_materialization
from mc_pipelines.assets.sync_record import record_sync
from mc_pipelines.assets.sync_view import RunView
from mc_pipelines.effects.settle import standing_outcomes
from mc_pipelines.store import runs, settled
from mc_pipelines.store import segments as segment_store

#: The assets of the sync chain (`automation.jobs.AUDIENCE_SYNC_SELECTION`; a test keeps the two
#: in step). A run that selects anything else downstream of the contacts is never skipped.
SYNC_CHAIN = frozenset({"mailchimp_member_status", "source_contacts", "consented_contacts",
                        "rejected_contacts", "segment_members", "segment_summary",
                        "desired_members", "audience_sync"})
#: Metadata keys of the fingerprints `source_contacts` took before reading: the application rows
#: it read, and the member state the pull left (what `audience_sync` plans from).
APP_FINGERPRINT = "app_inputs_fingerprint"
STATE_FINGERPRINT = "state_inputs_fingerprint"
#: Metadata key naming the sync run that settled the org, on the observations of a skipped sync.
SETTLED_BY = "settled_by_sync_run"
#: A sync's Mailchimp call counts in its summary (all 0 for a settled org's).
CALLS = ("mailchimp_calls", "mailchimp_writes", "mailchimp_retries")


def run_settings(context: AssetExecutionContext) -> str:
    """The run's settings a plan depends on: the `audience_sync` step's config as given."""
    ops = (context.run.run_config or {}).get("ops") or {}
    return json.dumps((ops.get("audience_sync") or {}).get("config") or {}, sort_keys=True)


def fingerprints_of_this_run(context: AssetExecutionContext) -> tuple[str | None, str | None]:
    """The fingerprints `source_contacts` took in this run before reading the contacts: of the
    application rows and of the member state ((None, None) when it was not materialized in this
    run, or on SQLite)."""
    latest = latest_materialization(context, "source_contacts")
    if latest is None or latest.run_id != context.run_id:
        return None, None
    metadata = latest.asset_materialization.metadata
    return tuple(getattr(metadata.get(key), "value", None) for key in (APP_FINGERPRINT, STATE_FINGERPRINT))


def fingerprints(context: AssetExecutionContext, engine: Engine) -> dict[str, str]:
    """The fingerprints to take before reading the contacts, as `source_contacts` metadata
    (empty on SQLite, and for a dry run, which neither skips nor settles)."""
    org_id = context.partition_key
    if run_is_dry(context):
        return {}
    app = settled.app_fingerprint(engine, org_id)
    state = settled.state_fingerprint(engine, org_id) if app else None
    return {APP_FINGERPRINT: app, STATE_FINGERPRINT: state} if app and state else {}


def may_skip(context: AssetExecutionContext) -> bool:
    """A run of the sync chain (audience_sync and only its upstream selected), not dry."""
    selected = {k.to_user_string() for k in context.job_def.asset_layer.selected_asset_keys}
    return "audience_sync" in selected and selected <= SYNC_CHAIN and not run_is_dry(context)


def skip_if_settled(context: AssetExecutionContext, engine: Engine, taken: dict[str, str], *,
                    full_emails: bool = False) -> Iterator[AssetObservation] | None:
    """When the org is settled for the inputs `taken` (`fingerprints`): records the sync as
    unchanged and returns the observations to yield (the caller then yields no output);
    otherwise None."""
    org_id = context.partition_key
    if not taken or not may_skip(context):
        return None
    fingerprint = settled.combine(taken[APP_FINGERPRINT], taken[STATE_FINGERPRINT], run_settings(context))
    found = settled.settled_run(engine, org_id, fingerprint)
    if found is None:
        context.log.info(f"org {org_id}: not settled for these inputs (fingerprint "
                         f"{(fingerprint or '')[:12]}): planned in full")
        return None
    # the settling plan's listing again: the rows it leaves alone stay reported, with contact ids
    view = RunView(standing_outcomes(found.listed), batch_size=500, full_emails=full_emails)
    run_id = runs.start_run(engine, org_id, kind="audience_sync", dry_run=False,
                            dagster_run_id=context.run_id)
    record_sync(engine, org_id, run_id, view, dict.fromkeys(CALLS, 0),
                actor=f"dagster:{context.run_id}", unchanged_since=found.sync_run_id)
    segments = segment_store.active_segments(engine, org_id)  # the synced ones are still in sync
    segment_store.set_status(engine, org_id, segments.loc[segments["status"] == "synced", "id"], "synced")
    context.log.info(f"org {org_id}: contacts, consent, segments, connection and member state are "
                     f"unchanged since sync run {found.sync_run_id}, which left nothing to do: "
                     "nothing to plan")
    metadata = {**view.metadata(), SETTLED_BY: MetadataValue.text(found.sync_run_id),
                "sync_run_id": MetadataValue.text(run_id),
                **dict.fromkeys(("mailchimp_calls", "mailchimp_write_calls", "mailchimp_retries"),
                                MetadataValue.int(0)),
                "inputs_fingerprint": MetadataValue.text(fingerprint or "")}
    note = f"unchanged since sync run {found.sync_run_id}: not planned again"
    return iter([AssetObservation(asset_key=AssetKey("source_contacts"), partition=org_id,
                                  description=note, metadata={SETTLED_BY: metadata[SETTLED_BY]}),
                 AssetObservation(asset_key=AssetKey("audience_sync"), partition=org_id,
                                  description=note, metadata=metadata)])
