"""`segment_members`, `segment_summary`, `desired_members`: who belongs to each active segment,
one summary row per segment, and the desired membership of every audience — one multi-asset,
since the three come from one evaluation of the segments against the cohort."""


import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetOut,
    Failure,
    MetadataValue,
    Output,
    multi_asset,
)

from mc_pipelines.assets.common import OWNERS, SYNC_GROUP, counts_legend, numbers, table_metadata
from mc_pipelines.assets.dry_run import run_is_dry
from mc_pipelines.assets.same_run import SEGMENTS_UPSTREAM, require_same_run
from mc_pipelines.assets.sources import app_contact_segments
from mc_pipelines.partitions import org_partitions
from mc_pipelines.resources import AppDatabase
from mc_pipelines.store.connections import record_sync_status, require_active_connection
from mc_pipelines.store.segments import active_segments
from mc_pipelines.sync.desired import desired_members as build_desired_members
from mc_pipelines.sync.segments import segment_membership

ROW_COUNT = "dagster/row_count"


def _out(description: str) -> AssetOut:
    return AssetOut(dagster_type=pd.DataFrame, description=description, group_name=SYNC_GROUP,
                    owners=OWNERS, kinds={"pandas"})


@multi_asset(
    name="segment_members",
    partitions_def=org_partitions,
    deps=[app_contact_segments],
    outs={
        "segment_members": _out(
            "One row per (segment, member) of every active segment: segment id, audience, "
            "subscriber hash, contact id and the Mailchimp tag the segment manages. Filters on "
            "department, location, employment type and status, contact type and application tags."),
        "segment_summary": _out(
            "One row per active segment: id, name, audience (the org's default unless the segment "
            "names another), the tag it manages, its member count and, for a segment whose filters "
            "or tag cannot be used, the error (such a segment produces no members)."),
        "desired_members": _out(
            "The desired state of every audience, one row per (audience, member): the org's "
            "default audience holds the whole cohort; segments add the Mailchimp tags they manage "
            "and may point to another audience. Merge fields follow the org's map (values over "
            "255 characters cut and flagged)."),
    },
)
def segment_members(
    context: AssetExecutionContext, consented_contacts: pd.DataFrame, app_db: AppDatabase,
) -> tuple[Output[pd.DataFrame], Output[pd.DataFrame], Output[pd.DataFrame]]:
    """Evaluate the org's active segments once and build the desired state of each audience."""
    org_id = context.partition_key
    require_same_run(context, "segment_members", SEGMENTS_UPSTREAM)
    connection = require_active_connection(app_db.engine, org_id)
    segments = active_segments(app_db.engine, org_id)
    # Membership once, then the desired state once, with the org's merge-field map
    # (`evaluate_segments` would build a second desired state with the default map).
    membership, summary = segment_membership(consented_contacts, segments, connection.audience_id)
    try:
        desired = build_desired_members(
            consented_contacts, membership, connection.audience_id, connection.merge_fields or None,
            app_tag_prefix=connection.app_tag_prefix if connection.push_app_tags else None)
    except ValueError as exc:  # a merge-field map naming columns contacts do not have: not retryable
        message = (f"{exc}; fix the org's merge-field map (reconnect with `mc-pipelines connect "
                   f"--org {org_id} ... --merge-field TAG=column`)")
        if not run_is_dry(context):
            record_sync_status(app_db.engine, org_id, status="error", error=message)
        raise Failure(description=message, allow_retries=False) from None
    errors = summary[summary["error"].notna()] if len(summary) else summary
    for row in errors.to_dict("records"):
        context.log.warning(f"segment {row['segment_id']} ({row['name']}): {row['error']}")
    per_audience = desired.groupby("audience_id").size().to_dict() if len(desired) else {}
    truncated = int(desired["truncated"].sum()) if "truncated" in desired else 0
    return (
        Output(membership, output_name="segment_members", metadata={
            ROW_COUNT: MetadataValue.int(len(membership)),
            **numbers({"segment_memberships": len(membership)}),
            "counts_explained": counts_legend({
                "segment_memberships": "(segment, member) pairs: a member of two segments counts twice"}),
        }),
        Output(summary, output_name="segment_summary", metadata={
            ROW_COUNT: MetadataValue.int(len(summary)),
            **numbers({"segments_with_errors": len(errors)}),
            "counts_explained": counts_legend({
                "segments_with_errors": "segments whose filters or tag cannot be used: their audience "
                                        "and tag are frozen (see the error column)"}),
            "segments": table_metadata(summary, ["segment_id", "name", "tag", "audience_id",
                                                 "member_count", "error"], limit=50),
        }),
        Output(desired, output_name="desired_members", metadata={
            ROW_COUNT: MetadataValue.int(len(desired)),
            **numbers({"desired_members": len(desired), "truncated_fields": truncated}),
            "counts_explained": counts_legend({
                "desired_members": "(audience, member) pairs the audiences should hold",
                "truncated_fields": "merge-field values cut to Mailchimp's 255 characters",
                "members[<audience id>]": "desired members of that audience"}),
            **{f"members[{a}]": MetadataValue.int(int(n)) for a, n in per_audience.items()},
        }),
    )
