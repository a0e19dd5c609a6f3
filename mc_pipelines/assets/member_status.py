"""`mailchimp_member_status`: the incremental pull of what changed in Mailchimp (see `pull.py`)."""


import asyncio
import time

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from mc_pipelines.assets.common import INBOUND_GROUP, MAILCHIMP_RETRY, OWNERS, numbers, org_audiences
from mc_pipelines.assets.sources import app_mailchimp_connections
from mc_pipelines.mailchimp.metrics import CallMetrics
from mc_pipelines.partitions import org_partitions
from mc_pipelines.pull import pull_member_status
from mc_pipelines.resources import AppDatabase, MailchimpResource
from mc_pipelines.store.connections import require_active_connection
from mc_pipelines.store.segments import active_segments


class MemberStatusConfig(Config):
    """Run config of the member-status pull."""

    dry_run: bool = False


@asset(
    partitions_def=org_partitions,
    deps=[app_mailchimp_connections],
    group_name=INBOUND_GROUP,
    owners=["team:growth-data"],
    kinds={"mailchimp", "postgres"},
    retry_policy=MAILCHIMP_RETRY,
    description=(
        "Members Mailchimp changed since the last pull (per audience cursor on last_changed). "
        "Refreshes each known member's Mailchimp status and tags in mailchimp_member_state, and "
        "turns unsubscribes and cleaned addresses made in Mailchimp into withdrawn consent in the "
        "application (source 'mailchimp'). Runs before every push so no update flips a status."
    ),
)
def mailchimp_member_status(
    context: AssetExecutionContext, config: MemberStatusConfig, app_db: AppDatabase,
    mailchimp: MailchimpResource,
) -> MaterializeResult:
    """Pull member statuses changed in Mailchimp for this org."""
    org_id = context.partition_key
    engine = app_db.engine
    connection = require_active_connection(engine, org_id)
    audiences = org_audiences(connection, active_segments(engine, org_id))
    metrics = CallMetrics()
    started = time.perf_counter()

    async def run():
        async with mailchimp.client_for(connection, metrics) as client:
            return await pull_member_status(client, engine, org_id, audiences, dry_run=config.dry_run)

    pulls = asyncio.run(run())
    totals = {
        "members_changed": sum(p.members_seen for p in pulls),
        "known_members_refreshed": sum(p.known_members_refreshed for p in pulls),
        "unsubscribed_in_mailchimp": sum(len(p.unsubscribed_in_mailchimp) for p in pulls),
        "cleaned_in_mailchimp": sum(len(p.cleaned_in_mailchimp) for p in pulls),
        "consent_withdrawn": sum(len(p.consent_withdrawn) for p in pulls),
        "mailchimp_calls": metrics.total_calls,
        "mailchimp_retries": metrics.total_retries,
    }
    context.log.info(f"org {org_id}: {totals}")
    cursors = "\n".join(f"- `{p.audience_id}`: {p.cursor.isoformat() if p.cursor else 'none yet'}" for p in pulls)
    return MaterializeResult(metadata={
        **numbers(totals),
        "duration_seconds": MetadataValue.float(round(time.perf_counter() - started, 3)),
        "audiences": MetadataValue.text(", ".join(audiences)),
        "cursors": MetadataValue.md(cursors or "_no audience_"),
        "dry_run": MetadataValue.bool(config.dry_run),
    })
