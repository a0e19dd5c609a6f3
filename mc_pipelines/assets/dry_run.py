"""Dry runs: one switch for the whole run, visible on the run.

A run is dry when it carries the tag `mc/dry_run=true` or when the run config asks any step of
the sync for `dry_run: true` (the launchpad's `ops: audience_sync: config: dry_run: true`, or
`sync_run_config(dry_run=True)`). Every step then writes nothing — neither the pull nor the
push — and the run is tagged so it is told apart in the runs list. `audience_sync` records a
dry run's plan as an *observation* of the asset, never as a materialization, so an org never
looks synced after a dry run.
"""

from __future__ import annotations

from dagster import AssetExecutionContext

DRY_RUN_TAG = "mc/dry_run"
#: The steps whose config has a `dry_run` field; any of them set makes the whole run dry.
DRY_RUN_STEPS = ("audience_sync", "mailchimp_member_status")


def run_is_dry(context: AssetExecutionContext) -> bool:
    """Whether this run is a dry run (tag, or any sync step's config); tags the run if so."""
    run = context.run
    ops = (run.run_config or {}).get("ops") or {}
    dry = run.tags.get(DRY_RUN_TAG) == "true" or any(
        bool(((ops.get(step) or {}).get("config") or {}).get("dry_run")) for step in DRY_RUN_STEPS)
    if dry and run.tags.get(DRY_RUN_TAG) != "true":
        context.instance.add_run_tags(context.run_id, {DRY_RUN_TAG: "true"})
    return dry
