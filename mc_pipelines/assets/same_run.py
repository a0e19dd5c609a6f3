"""Single-asset safety: an asset of the sync chain plans only from inputs computed in its own run.

The chain `mailchimp_member_status → source_contacts → consented_contacts → segment_members /
segment_summary / desired_members → audience_sync` passes DataFrames from step to step. An asset
materialized alone (from the asset page, a subset re-execution, or a run that selected part of
the chain) would load whatever an earlier run left: a cohort from before a consent withdrawal,
an audience that no longer exists. Each asset that takes such inputs therefore checks, before it
uses them, that every upstream it needs was materialized **in this run** for this org, and
refuses otherwise with an error naming the stale upstream and how to run the chain. Assets that
read only the source of truth (the application DB, Mailchimp) are always safe alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from dagster import AssetExecutionContext, AssetKey, AssetRecordsFilter, EventLogRecord, Failure

#: What `audience_sync` needs from its own run: the statuses just read from Mailchimp, and the
#: desired state built from the contacts read after that pull.
PUSH_UPSTREAM = ("mailchimp_member_status", "source_contacts", "consented_contacts",
                 "segment_summary", "desired_members")
#: What the segment evaluation needs: the cohort and the contacts it was built from.
SEGMENTS_UPSTREAM = ("source_contacts", "consented_contacts")
#: What the consent gate needs: the contacts just read.
COHORT_UPSTREAM = ("source_contacts",)

HOW_TO_RUN = ("materialize it together with its upstream in one run: Jobs → audience_sync_job → "
              "Materialize → pick the org (or select `+key:\"audience_sync\"` on the asset lineage "
              "page and Materialize all), or "
              "`mc-pipelines sync --org {org}`")


class StaleUpstreamError(Failure):
    """An asset was asked to compute from inputs that an earlier run produced."""


def latest_materialization(context: AssetExecutionContext, asset: str) -> EventLogRecord | None:
    """The latest materialization of `asset` for this run's partition (any run's), or None."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[context.partition_key]),
        limit=1).records
    return records[0] if records else None


def stale_upstream(context: AssetExecutionContext, upstream: Sequence[str]) -> list[str]:
    """For each of `upstream` not materialized in this run for this partition, why (empty when
    every input is this run's)."""
    problems = []
    for asset in upstream:
        latest = latest_materialization(context, asset)
        if latest is None:
            problems.append(f"{asset} was never materialized for this org")
        elif latest.run_id != context.run_id:
            at = datetime.fromtimestamp(latest.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            problems.append(f"{asset} was last materialized at {at} by run {latest.run_id[:8]}, "
                            "not in this run")
    return problems


def require_same_run(context: AssetExecutionContext, asset: str, upstream: Sequence[str]) -> None:
    """Refuse (a non-retried `Failure`) unless every `upstream` asset was materialized in this
    run for this org: the error names each stale upstream and how to run the chain."""
    problems = stale_upstream(context, upstream)
    if problems:
        org = context.partition_key
        raise StaleUpstreamError(
            description=(f"{asset} for org {org!r} refuses to compute from stale inputs: "
                         + "; ".join(problems) + ". Its inputs must come from the same run, or "
                         "it could push an out-of-date plan (e.g. miss a consent withdrawn since). "
                         "To sync, " + HOW_TO_RUN.format(org=org) + "."),
            allow_retries=False)
