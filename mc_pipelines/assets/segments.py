"""`segment_members`: who belongs to each active segment, and the desired audience membership."""


import pandas as pd
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from mc_pipelines.assets.common import OWNERS, SYNC_GROUP, numbers, table_metadata
from mc_pipelines.assets.sources import app_contact_segments
from mc_pipelines.partitions import org_partitions
from mc_pipelines.resources import AppDatabase
from mc_pipelines.store.connections import record_sync_status, require_active_connection
from mc_pipelines.store.segments import active_segments
from mc_pipelines.sync.desired import desired_members
from mc_pipelines.sync.segments import segment_membership


@asset(
    partitions_def=org_partitions,
    deps=[app_contact_segments],
    group_name=SYNC_GROUP,
    owners=OWNERS,
    kinds={"pandas"},
    description=(
        "One member set per active segment (filters on department, location, employment type and "
        "status, contact type and application tags) and the desired membership of every audience: "
        "the org's default audience holds the whole cohort; segments add the Mailchimp tag they "
        "manage, and may point to another audience. Segments with invalid filters are reported "
        "and produce no members."
    ),
)
def segment_members(context: AssetExecutionContext, consented_contacts: pd.DataFrame,
                    app_db: AppDatabase) -> MaterializeResult:
    """Evaluate segments and build the desired state of each audience."""
    org_id = context.partition_key
    connection = require_active_connection(app_db.engine, org_id)
    segments = active_segments(app_db.engine, org_id)
    # Membership once, then the desired state once, with the org's merge-field map
    # (`evaluate_segments` would build a second desired state with the default map).
    membership, summary = segment_membership(consented_contacts, segments, connection.audience_id)
    try:
        desired = desired_members(consented_contacts, membership, connection.audience_id,
                                  connection.merge_fields or None)
    except ValueError as exc:  # a merge-field map naming columns contacts do not have: not retryable
        message = (f"{exc}; fix the org's merge-field map (reconnect with `mc-pipelines connect "
                   f"--org {org_id} ... --merge-field TAG=column`)")
        record_sync_status(app_db.engine, org_id, status="error", error=message)
        raise Failure(description=message, allow_retries=False) from None
    errors = summary[summary["error"].notna()] if len(summary) else summary
    for row in errors.to_dict("records"):
        context.log.warning(f"segment {row['segment_id']} ({row['name']}): {row['error']}")
    per_audience = desired.groupby("audience_id").size().to_dict() if len(desired) else {}
    counts = {
        "segments": len(summary), "segments_with_errors": len(errors),
        "desired_members": len(desired), "segment_memberships": len(membership),
        "truncated_fields": int(desired["truncated"].sum()) if "truncated" in desired else 0,
    }
    return MaterializeResult(
        value={"membership": membership, "summary": summary, "desired": desired},
        metadata={
            **numbers(counts),
            **{f"members[{a}]": MetadataValue.int(int(n)) for a, n in per_audience.items()},
            "segments": table_metadata(summary, ["segment_id", "name", "tag", "audience_id",
                                                 "member_count", "error"], limit=50),
        },
    )
