"""`mailchimp_member_tags` (every member's current Mailchimp tags, full read) and
`contact_tags_download` (the opt-in "Download" of those tags into the application's contacts)."""


from dagster import AssetExecutionContext, Config, Failure, MaterializeResult, MetadataValue, asset
from pydantic import Field

from mc_pipelines.actions.tags_download import download_tags, read_member_tags
from mc_pipelines.assets.common import (
    DB_KIND,
    INBOUND_GROUP,
    MAILCHIMP_RETRY,
    OWNERS,
    numbers,
    table_metadata,
)
from mc_pipelines.assets.sources import app_mailchimp_connections
from mc_pipelines.effects.member_tags import DEFAULT_MAX_MEMBERS
from mc_pipelines.errors import FixableError
from mc_pipelines.mailchimp.errors import ACCOUNT_LEVEL_ERRORS
from mc_pipelines.mailchimp.limits import PAGE_LIMIT
from mc_pipelines.mailchimp.metrics import CallMetrics
from mc_pipelines.partitions import org_partitions
from mc_pipelines.resources import AppDatabase, MailchimpResource
from mc_pipelines.store.secrets import SecretKeyError


class MemberTagsConfig(Config):
    """Run config of the full read of member tags."""

    page_size: int = Field(default=PAGE_LIMIT, ge=2, le=PAGE_LIMIT, description="Members per GET.")
    max_members: int = Field(
        default=DEFAULT_MAX_MEMBERS, ge=1,
        description="Refuse (before the first page) an audience holding more members than this.")


class TagsDownloadConfig(Config):
    """Run config of the download of Mailchimp tags into the app's contacts."""

    dry_run: bool = Field(default=False, description="Report the contacts whose tags would change; "
                          "write nothing.")


@asset(
    partitions_def=org_partitions,
    deps=[app_mailchimp_connections],
    group_name=INBOUND_GROUP,
    owners=OWNERS,
    kinds={"mailchimp", DB_KIND},
    retry_policy=MAILCHIMP_RETRY,
    description=(
        "Every member's current Mailchimp tags, per audience of the org — a full read, so "
        "tag-only changes (which Mailchimp does not mark as changes, and the incremental pull "
        "misses) are included. Paged by key (no member skipped while the audience changes), one "
        "page in memory, bounded by `max_members`. Stored in mailchimp_member_tags (application "
        "DB), replacing the previous read."
    ),
)
def mailchimp_member_tags(context: AssetExecutionContext, config: MemberTagsConfig,
                          app_db: AppDatabase, mailchimp: MailchimpResource) -> MaterializeResult:
    """Read every member's tags of the org's audiences into `mailchimp_member_tags`."""
    metrics = CallMetrics()
    try:
        reads = read_member_tags(app_db.engine, mailchimp.client_for, context.partition_key,
                                 page_size=config.page_size, max_members=config.max_members,
                                 metrics=metrics)
    except (*ACCOUNT_LEVEL_ERRORS, SecretKeyError, FixableError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    return MaterializeResult(metadata={
        **numbers({"members": sum(r.members for r in reads),
                   "tagged_members": sum(r.tagged for r in reads),
                   "forgotten_members": sum(r.forgotten for r in reads),
                   "mailchimp_calls": metrics.total_calls}),
        "audiences": MetadataValue.json([vars(r) for r in reads]),
    })


@asset(
    partitions_def=org_partitions,
    deps=[mailchimp_member_tags],
    group_name=INBOUND_GROUP,
    owners=OWNERS,
    kinds={DB_KIND},
    description=(
        "Opt-in \"Download\": adds to each live contact's app tags (contacts.tags) the tags its "
        "address has in Mailchimp that the project does not manage (segment tags and pushed app "
        "tags are the app's own). Never removes an app tag, never writes to Mailchimp; audited. "
        "Only in contact_tags_download_job, never scheduled."
    ),
)
def contact_tags_download(context: AssetExecutionContext, config: TagsDownloadConfig,
                          app_db: AppDatabase) -> MaterializeResult:
    """Write the members' unmanaged Mailchimp tags into the app's contacts."""
    try:
        outcome = download_tags(app_db.engine, context.partition_key,
                                actor=f"dagster:{context.run_id}", dry_run=config.dry_run)
    except FixableError as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    changes = outcome.changes
    return MaterializeResult(metadata={
        **numbers({"contacts_changed": outcome.contacts_changed, "tags_added": outcome.tags_added,
                   "members_read": outcome.members_read}),
        "dry_run": MetadataValue.bool(config.dry_run),
        "changes": table_metadata(changes, ["contact_id", "added", "tags"], limit=25),
    })
