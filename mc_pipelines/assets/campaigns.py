"""`campaign_stats`: refresh the org's tracked campaigns from Mailchimp (campaign + report)."""


import time
from dataclasses import asdict
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
)
from pydantic import Field

from mc_pipelines.assets.common import (
    DB_KIND,
    INBOUND_GROUP,
    MAILCHIMP_RETRY,
    OWNERS,
    counts_legend,
    numbers,
    run_mailchimp,
    table_metadata,
)
from mc_pipelines.assets.sources import app_campaign_tracking, app_mailchimp_connections
from mc_pipelines.effects.campaign_refresh import refresh_campaigns
from mc_pipelines.mailchimp.metrics import CallMetrics
from mc_pipelines.partitions import org_partitions
from mc_pipelines.resources import AppDatabase, MailchimpResource
from mc_pipelines.store import campaigns as campaign_store
from mc_pipelines.store.clock import utcnow
from mc_pipelines.store.connections import (
    NotConnectedError,
    UnknownOrgError,
    require_active_connection,
)
from mc_pipelines.sync.campaign_window import DEFAULT_WINDOW_DAYS, refresh_decision

TABLE_COLUMNS = {
    "campaign_id": "Mailchimp campaign id",
    "title": "Campaign title",
    "status": "Mailchimp status (or `deleted`: gone from Mailchimp)",
    "send_time": "Send time (UTC)",
    "emails_sent": "Emails sent",
    "open_rate": "Unique opens / emails sent, a fraction in 0..1",
    "click_rate": "Unique subscriber clicks / emails sent, a fraction in 0..1",
    "unsubscribed": "Unsubscribes from this campaign",
    "bounces": "Hard + soft + syntax-error bounces",
    "action": "refreshed now, or why it was skipped / failed",
}


REFRESH_CHECK = "campaigns_refreshed"


class CampaignStatsConfig(Config):
    """Run config of the campaign stats refresh."""

    window_days: int = Field(
        default=DEFAULT_WINDOW_DAYS, ge=1, le=3650,
        description="Sent campaigns are refreshed while sent within this many days.")


def _table(frame: pd.DataFrame) -> MetadataValue:
    """The campaigns table, with each column's meaning and unit."""
    table = table_metadata(frame, list(TABLE_COLUMNS), limit=50)
    columns = [TableColumn(name=c.name, type=c.type, description=TABLE_COLUMNS[c.name])
               for c in table.schema.columns]
    return MetadataValue.table(records=table.records, schema=TableSchema(columns=columns))


def _mean(values: pd.Series) -> float | None:
    values = values.dropna()
    return round(float(values.mean()), 6) if len(values) else None


@asset(
    partitions_def=org_partitions,
    deps=[app_campaign_tracking, app_mailchimp_connections],
    group_name=INBOUND_GROUP,
    owners=OWNERS,
    kinds={"mailchimp", DB_KIND},
    retry_policy=MAILCHIMP_RETRY,
    check_specs=[AssetCheckSpec(
        REFRESH_CHECK, asset="campaign_stats", partitions_def=org_partitions,
        description="Warns when a campaign due for a refresh (unfinished, or sent within the window) "
        "could not be refreshed: its stats in campaign_tracking are stale. Time-based freshness per "
        "org is the `stats_are_fresh` check.")],
    description=(
        "Refreshes the org's tracked campaigns (campaign_tracking) from Mailchimp's campaign and "
        "report: status, emails sent, open rate and click rate (FRACTIONS 0..1), unsubscribes, "
        "bounces (hard + soft + syntax). Every unfinished campaign is refreshed; sent ones while "
        "within the rolling window after send (`window_days`, default 30) since opens and clicks "
        "keep coming; canceled, archived and older sent campaigns are left alone (no API call). "
        "Metadata plots average open/click rates and totals per materialization."
    ),
)
def campaign_stats(context: AssetExecutionContext, config: CampaignStatsConfig,
                   app_db: AppDatabase, mailchimp: MailchimpResource) -> MaterializeResult:
    """Refresh the org's tracked campaigns that the window selects."""
    org_id = context.partition_key
    engine = app_db.engine
    try:
        connection = require_active_connection(engine, org_id)
    except (NotConnectedError, UnknownOrgError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    started = time.perf_counter()
    now = utcnow()
    tracked = campaign_store.tracked_campaigns(engine, org_id)
    decisions = {c.campaign_id: refresh_decision(c.status, c.send_time, now, config.window_days)
                 for c in tracked}
    to_refresh = [c.campaign_id for c in tracked if decisions[c.campaign_id].refresh]
    metrics = CallMetrics()

    async def run() -> dict[str, dict[str, Any] | str]:
        async with mailchimp.client_for(connection, metrics) as client:
            return await refresh_campaigns(client, to_refresh)

    results = run_mailchimp(run()) if to_refresh else {}
    refreshed = {c: r for c, r in results.items() if isinstance(r, dict)}
    failed = {c: r for c, r in results.items() if isinstance(r, str)}
    campaign_store.save_stats(engine, org_id, refreshed, refreshed_at=now)

    rows = []
    for campaign in tracked:
        values = {**asdict(campaign), **refreshed.get(campaign.campaign_id, {})}
        decision = decisions[campaign.campaign_id]
        if campaign.campaign_id in failed:
            values["action"] = f"failed: {failed[campaign.campaign_id]}"
        else:
            values["action"] = "refreshed" if decision.refresh else f"skipped: {decision.reason}"
        rows.append(values)
    frame = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    fresh = frame[frame["campaign_id"].isin(list(refreshed))]
    sent = fresh[fresh["emails_sent"].fillna(0) > 0]
    totals: dict[str, int | float] = {
        "campaigns_tracked": len(tracked),
        "campaigns_refreshed": len(refreshed),
        "campaigns_skipped": len(tracked) - len(to_refresh),
        "campaigns_failed": len(failed),
        "emails_sent": int(fresh["emails_sent"].fillna(0).sum()),
        "unsubscribed": int(fresh["unsubscribed"].fillna(0).sum()),
        "bounces": int(fresh["bounces"].fillna(0).sum()),
        "mailchimp_calls": metrics.total_calls,
    }
    for name in ("open_rate", "click_rate"):
        average = _mean(sent[name])
        if average is not None:  # no point on the plot rather than a misleading zero
            totals[f"avg_{name}"] = average
    context.log.info(f"org {org_id}: {totals}")
    check = AssetCheckResult(
        check_name=REFRESH_CHECK, passed=not failed, severity=AssetCheckSeverity.WARN,
        description=(f"all {len(to_refresh)} campaigns due were refreshed" if not failed else
                     f"{len(failed)} of {len(to_refresh)} campaigns due could not be refreshed: "
                     + ", ".join(sorted(failed))),
        metadata={"campaigns_due": MetadataValue.int(len(to_refresh)),
                  "failed_campaigns": MetadataValue.json(sorted(failed))})
    return MaterializeResult(check_results=[check], metadata={
        **numbers(totals),
        "counts_explained": counts_legend({
            "campaigns_tracked": "campaigns the application tracks for the org",
            "campaigns_refreshed": "campaigns whose stats were read from Mailchimp now",
            "campaigns_skipped": "campaigns left alone: finished, or sent before the window",
            "campaigns_failed": "campaigns due whose refresh failed (stale stats; see errors)",
            "emails_sent / unsubscribed / bounces": "totals over the campaigns refreshed now",
            "avg_open_rate / avg_click_rate": "means over refreshed campaigns that sent email (0..1)",
        }),
        "window_days": MetadataValue.int(config.window_days),
        "rate_unit": MetadataValue.text("fraction (0..1) — avg_open_rate 0.25 means 25 %"),
        "campaigns": _table(frame),
        "errors": MetadataValue.md("\n".join(f"- `{c}`: {m}" for c, m in failed.items()) or "_none_"),
        "duration_seconds": MetadataValue.float(round(time.perf_counter() - started, 3)),
    })
