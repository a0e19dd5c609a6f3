"""Reading tracked campaigns' stats from Mailchimp: the campaign, then its report once it has one.

Two calls per campaign (`GET /campaigns/{id}` for status and send time, `GET /reports/{id}` for
opens, clicks, unsubscribes and bounces), sent concurrently under the client's connection cap.
Which campaigns are read at all is decided by `mc_pipelines.sync.campaign_window`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.errors import ACCOUNT_LEVEL_ERRORS, MailchimpError, ResourceNotFound
from mc_pipelines.sync import campaign_window


async def fetch_stats(client: MailchimpClient, campaign_id: str) -> dict[str, Any]:
    """The `campaign_tracking` columns of one campaign, read now.

    Raises `ResourceNotFound` when the account has no campaign with this id."""
    campaign = await client.get_campaign(campaign_id)
    report = None
    if campaign_window.has_report(campaign):
        try:
            report = await client.get_campaign_report(campaign_id)
        except ResourceNotFound:  # the report can lag a moment behind the start of sending
            report = None
    return campaign_window.campaign_stats(campaign, report)


async def refresh_campaigns(client: MailchimpClient,
                            campaign_ids: list[str]) -> dict[str, dict[str, Any] | str]:
    """Stats per campaign id; a campaign deleted in Mailchimp gets the terminal status `deleted`,
    one whose calls failed (after the client's retries) its error message instead of stats.
    Account-level failures (revoked key, disabled account) raise."""

    async def one(campaign_id: str) -> dict[str, Any] | str:
        try:
            return await fetch_stats(client, campaign_id)
        except ResourceNotFound:
            return {"status": campaign_window.DELETED}
        except ACCOUNT_LEVEL_ERRORS:
            raise
        except MailchimpError as exc:
            return str(exc)

    results = await asyncio.gather(*[one(c) for c in campaign_ids])
    return dict(zip(campaign_ids, results, strict=True))
