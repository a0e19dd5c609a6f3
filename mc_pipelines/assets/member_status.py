"""`mailchimp_member_status`: the incremental pull of what changed in Mailchimp (see `pull.py`)."""


import time

import pandas as pd
from dagster import AssetExecutionContext, Config, Failure, MaterializeResult, MetadataValue, asset
from pydantic import Field

from mc_pipelines.assets.common import (
    DB_KIND,
    MAILCHIMP_RETRY,
    OWNERS,
    SYNC_GROUP,
    counts_legend,
    numbers,
    run_mailchimp,
    table_metadata,
)
from mc_pipelines.assets.dry_run import run_is_dry
from mc_pipelines.assets.sources import app_mailchimp_connections
from mc_pipelines.effects.pull import AudiencePull, pull_member_status
from mc_pipelines.mailchimp.limits import PAGE_LIMIT
from mc_pipelines.mailchimp.metrics import CallMetrics
from mc_pipelines.partitions import org_partitions
from mc_pipelines.resources import AppDatabase, MailchimpResource
from mc_pipelines.store.connections import (
    NotConnectedError,
    UnknownOrgError,
    record_sync_status,
    require_active_connection,
)
from mc_pipelines.store.segments import active_segments, org_audiences

TRANSITION_COLUMNS = ["audience_id", "email", "status", "reason", "contact_ids"]
COUNT_MEANINGS = {
    "members_changed": "members Mailchimp reports changed since the audience's cursor",
    "known_members_seen": "of those, members the project tracks (created or linked)",
    "state_rows_changed": "rows of mailchimp_member_state whose status, tags or address changed",
    "unsubscribed_in_mailchimp": "members who unsubscribed in Mailchimp (opt-out to honour)",
    "cleaned_in_mailchimp": "addresses Mailchimp cleaned (bounced)",
    "resubscribed_in_mailchimp": "members who re-subscribed on a Mailchimp form (consent given)",
    "archived_in_mailchimp": "members archived in Mailchimp (never un-archived by the project)",
    "moved_in_mailchimp": "members whose address the person changed in Mailchimp",
    "consent_withdrawn": "contacts whose consent the pull withdrew in the app (source mailchimp)",
    "consent_given": "contacts whose consent the pull recorded as given (form re-subscribe)",
    "consent_kept": "opt-outs older than a newer app consent: the app's consent kept (A9)",
    "page_restarts": "page reads restarted because the audience changed while being read",
    "audiences_failed": "audiences that could not be pulled (see cursors)",
    "mailchimp_calls": "Mailchimp API calls made",
    "mailchimp_retries": "calls retried after 429, 5xx or a dropped connection",
}


class MemberStatusConfig(Config):
    """Run config of the member-status pull."""

    dry_run: bool = Field(default=False, description="Report what changed in Mailchimp; write nothing.")
    full_refresh: bool = Field(
        default=False,
        description="Read every member, not only those changed since the cursor (picks up tag-only "
        "changes, which Mailchimp does not mark as changes).",
    )
    page_size: int = Field(default=PAGE_LIMIT, ge=2, le=PAGE_LIMIT, description="Members per GET.")


def _totals(pulls: list[AudiencePull], metrics: CallMetrics) -> dict[str, int]:
    return {
        "members_changed": sum(p.members_seen for p in pulls),
        "known_members_seen": sum(p.known_members_seen for p in pulls),
        "state_rows_changed": sum(p.state_rows_changed for p in pulls),
        "unsubscribed_in_mailchimp": sum(p.unsubscribed_in_mailchimp for p in pulls),
        "cleaned_in_mailchimp": sum(p.cleaned_in_mailchimp for p in pulls),
        "resubscribed_in_mailchimp": sum(p.resubscribed_in_mailchimp for p in pulls),
        "archived_in_mailchimp": sum(p.archived_in_mailchimp for p in pulls),
        "moved_in_mailchimp": sum(p.moved_in_mailchimp for p in pulls),
        "consent_withdrawn": sum(len(p.consent_withdrawn) for p in pulls),
        "consent_given": sum(len(p.consent_given) for p in pulls),
        "consent_kept": sum(len(p.consent_kept) for p in pulls),
        "page_restarts": sum(p.restarts for p in pulls),
        "audiences_failed": sum(1 for p in pulls if p.error),
        "mailchimp_calls": metrics.total_calls,
        "mailchimp_retries": metrics.total_retries,
    }


@asset(
    partitions_def=org_partitions,
    deps=[app_mailchimp_connections],
    group_name=SYNC_GROUP,
    owners=OWNERS,
    kinds={"mailchimp", DB_KIND},
    retry_policy=MAILCHIMP_RETRY,
    description=(
        "Members Mailchimp changed since the last pull (per-audience cursor on last_changed, paged "
        "by key so no member is skipped while the audience changes). Refreshes each known member's "
        "Mailchimp status and all its Mailchimp tags (read-only) in mailchimp_member_state, and "
        "turns unsubscribes and cleaned addresses made in Mailchimp into withdrawn consent in the "
        "application (consent_events, source 'mailchimp', with the reason). Runs before every push "
        "so no update flips a status; re-reading the boundary changes nothing."
    ),
)
def mailchimp_member_status(
    context: AssetExecutionContext, config: MemberStatusConfig, app_db: AppDatabase,
    mailchimp: MailchimpResource,
) -> MaterializeResult:
    """Pull member statuses changed in Mailchimp for this org."""
    org_id = context.partition_key
    engine = app_db.engine
    try:
        connection = require_active_connection(engine, org_id)
    except (NotConnectedError, UnknownOrgError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    audiences = org_audiences(connection, active_segments(engine, org_id))
    dry_run = run_is_dry(context)  # a dry run writes nothing in any step
    metrics = CallMetrics()
    started = time.perf_counter()

    async def run() -> list[AudiencePull]:
        async with mailchimp.client_for(connection, metrics) as client:
            return await pull_member_status(
                client, engine, org_id, audiences, dry_run=dry_run,
                full_refresh=config.full_refresh, page_size=config.page_size,
                required=audiences[:1])  # the default audience; a segment's may be missing (C3)

    try:
        pulls = run_mailchimp(run())
    except Failure as exc:  # account-level: the key, the account or an audience is gone
        if not dry_run:
            record_sync_status(engine, org_id, status="error", error=exc.description)
        raise
    totals = _totals(pulls, metrics)
    context.log.info(f"org {org_id}: {totals}")
    for pull in pulls:
        if pull.error:
            context.log.warning(f"org {org_id}: audience {pull.audience_id} not pulled: {pull.error}")
    cursors = "\n".join(f"- `{p.audience_id}`: " + (f"not pulled: {p.error}" if p.error else
                                                     p.cursor.isoformat() if p.cursor else "none yet")
                        for p in pulls)
    transitions = pd.DataFrame([t for p in pulls for t in p.transitions], columns=TRANSITION_COLUMNS)
    return MaterializeResult(metadata={
        "dry_run": MetadataValue.bool(dry_run),
        **({"note": MetadataValue.text("dry run: nothing was written (no consent change, no "
                                       "state, no cursor)")} if dry_run else {}),
        **numbers(totals),
        "counts_explained": counts_legend(COUNT_MEANINGS),
        "duration_seconds": MetadataValue.float(round(time.perf_counter() - started, 3)),
        "audiences": MetadataValue.text(", ".join(audiences)),
        "cursors": MetadataValue.md(cursors or "_no audience_"),
        "mailchimp_side_opt_outs": table_metadata(transitions, TRANSITION_COLUMNS, limit=20,
                                                  full_emails=app_db.full_emails_in_metadata),
        "full_refresh": MetadataValue.bool(config.full_refresh),
    })
