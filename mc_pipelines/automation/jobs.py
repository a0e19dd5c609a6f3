"""Jobs, named for what they do. Each run carries the org tag that dagster.yaml limits to one
concurrent run per org."""

from dagster import AssetSelection, define_asset_job

from mc_pipelines.assets.audience_sync import audience_sync
from mc_pipelines.assets.member_status import mailchimp_member_status
from mc_pipelines.automation.freshness import FRESHNESS_CHECKS
from mc_pipelines.partitions import org_partitions

# the per-org freshness checks look at every org: evaluated by freshness_sensor, not in each run
FRESHNESS = AssetSelection.checks(*FRESHNESS_CHECKS)

# the sync graph as the asset graph draws it: audience_sync and everything it is computed from
AUDIENCE_SYNC_SELECTION = (
    AssetSelection.assets(audience_sync).upstream().materializable().required_multi_asset_neighbors()
    - FRESHNESS
)

audience_sync_job = define_asset_job(
    "audience_sync_job",
    selection=AUDIENCE_SYNC_SELECTION,
    partitions_def=org_partitions,
    description="Pull Mailchimp-side changes, rebuild the cohort and segments, push what changed.",
)

member_status_job = define_asset_job(
    "member_status_pull_job",
    selection=AssetSelection.assets(mailchimp_member_status),
    partitions_def=org_partitions,
    description="Pull member statuses changed in Mailchimp (unsubscribes, cleaned) into the application.",
)

campaign_stats_job = define_asset_job(
    "campaign_stats_job",
    selection=AssetSelection.assets("campaign_stats") - FRESHNESS,
    partitions_def=org_partitions,
    description="Refresh tracked campaigns' stats (non-terminal ones, and sent ones within the window).",
)

contacts_export_job = define_asset_job(
    "contacts_export_job",
    selection=AssetSelection.assets("contacts_export"),
    partitions_def=org_partitions,
    description="Write every contact with its sync status and tags to CSV/XLSX for the org.",
)

JOBS = [audience_sync_job, member_status_job, campaign_stats_job, contacts_export_job]
