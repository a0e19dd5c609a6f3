"""Tracked campaigns: list, track (looked up in the org's Mailchimp account), untrack, refresh
one now. Each change is audited; another org's campaign is "not tracked", never visible."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import Engine

from mc_pipelines.actions.connections import with_connection
from mc_pipelines.effects.campaign_refresh import fetch_stats
from mc_pipelines.errors import NotFoundError, OperationError
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.errors import ResourceNotFound
from mc_pipelines.store import audit, campaign_admin, connections
from mc_pipelines.store import campaigns as campaign_store
from mc_pipelines.store.campaigns import TrackedCampaign
from mc_pipelines.store.clock import utcnow

_CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def campaign_id_or_error(raw: Any) -> str:
    """A Mailchimp campaign id (letters, digits, - and _), trimmed, or an OperationError."""
    campaign_id = raw.strip() if isinstance(raw, str) else ""
    if not _CAMPAIGN_ID.match(campaign_id):
        raise OperationError(f"campaign id {raw!r} is not a Mailchimp campaign id: pass the id the API "
                             "shows (e.g. 42694e9e57), not a name or URL")
    return campaign_id


def list_campaigns(engine: Engine, org_id: str) -> list[TrackedCampaign]:
    """The org's tracked campaigns with their latest stats."""
    connections.require_org(engine, org_id)
    return campaign_store.tracked_campaigns(engine, org_id)


def get_campaign(engine: Engine, org_id: str, campaign_id: str) -> TrackedCampaign:
    """One tracked campaign of the org, or NotFoundError."""
    campaign_id = campaign_id_or_error(campaign_id)
    for campaign in list_campaigns(engine, org_id):
        if campaign.campaign_id == campaign_id:
            return campaign
    raise NotFoundError(f"org {org_id!r} does not track campaign {campaign_id!r}: track it first "
                        f"(`mc-pipelines campaigns track --org {org_id} --campaign {campaign_id}`)")


def _read_stats(engine: Engine, org_id: str, campaign_id: str) -> dict[str, Any]:
    async def read(client: MailchimpClient) -> dict[str, Any] | None:
        try:
            return await fetch_stats(client, campaign_id)
        except ResourceNotFound:
            return None

    stats = with_connection(engine, org_id, read)
    if stats is None:
        account = connections.get_connection(engine, org_id)
        name = (account.account_name if account else None) or "its Mailchimp account"
        raise NotFoundError(
            f"campaign {campaign_id!r} was not found in the Mailchimp account of org {org_id!r} "
            f"({name}): check the id (Mailchimp API campaign id, not the web id or title); "
            "nothing was written")
    return stats


def track_campaign(engine: Engine, org_id: str, campaign_id: str, *, actor: str) -> tuple[bool, TrackedCampaign]:
    """Look the campaign up in the org's account and track it with its current stats (audited).
    Returns (new, the tracked campaign)."""
    campaign_id = campaign_id_or_error(campaign_id)
    connections.require_org(engine, org_id)
    stats = _read_stats(engine, org_id, campaign_id)
    new = campaign_store.track_campaign(engine, org_id, campaign_id, stats, actor=actor)
    return new, get_campaign(engine, org_id, campaign_id)


def untrack_campaign(engine: Engine, org_id: str, campaign_id: str, *, actor: str) -> None:
    """Stop tracking a campaign (its row is kept, soft-deleted); audited."""
    get_campaign(engine, org_id, campaign_id)
    campaign_admin.untrack_campaign(engine, org_id, campaign_id_or_error(campaign_id), actor=actor)


def refresh_campaign(engine: Engine, org_id: str, campaign_id: str, *, actor: str) -> TrackedCampaign:
    """Read one tracked campaign's stats from Mailchimp now and store them (audited)."""
    campaign_id = get_campaign(engine, org_id, campaign_id).campaign_id
    stats = _read_stats(engine, org_id, campaign_id)
    campaign_store.save_stats(engine, org_id, {campaign_id: stats}, utcnow())
    with engine.begin() as conn:
        audit.record(conn, org_id=org_id, actor=actor, action="refresh_campaign",
                     detail={"campaign_id": campaign_id, "status": stats.get("status")})
    return get_campaign(engine, org_id, campaign_id)
