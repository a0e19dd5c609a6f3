"""Tracked campaigns: `campaigns list|track|untrack|refresh`, and `track-campaign` (the same as
`campaigns track`)."""

from __future__ import annotations

import click

from mc_pipelines.actions import campaigns as actions
from mc_pipelines.cli.support import app_engine, cli_actor, format_table, org_option
from mc_pipelines.store.campaigns import TrackedCampaign

_CAMPAIGN = click.option("--campaign", required=True, metavar="ID",
                         help="the campaign id Mailchimp's API uses (e.g. 42694e9e57)")


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _line(c: TrackedCampaign) -> str:
    return (f"{c.title or 'untitled'}, status {c.status}, {c.emails_sent or 0} emails sent, "
            f"open rate {_rate(c.open_rate)}, click rate {_rate(c.click_rate)}")


def _track(org: str, campaign: str) -> int:
    new, tracked = actions.track_campaign(app_engine(), org, campaign, actor=cli_actor())
    verb = "now tracking" if new else "already tracked, updated"
    print(f"org {org}: {verb} campaign {tracked.campaign_id} ({_line(tracked)})")
    return 0


@click.command("track-campaign",
               help="track a Mailchimp campaign's stats (looked up in the org's Mailchimp account)")
@org_option
@_CAMPAIGN
def cmd_track_campaign(org: str, campaign: str) -> int:
    """Look the campaign up in the org's Mailchimp account and track its stats."""
    return _track(org, campaign)


@click.group("campaigns", help="tracked campaigns: list, track, untrack, refresh")
def campaigns() -> None:
    """Tracked campaigns."""


@campaigns.command("list", help="the org's tracked campaigns and their latest stats")
@org_option
def cmd_list(org: str) -> int:
    """Print the tracked campaigns."""
    found = actions.list_campaigns(app_engine(), org)
    if not found:
        print(f"org {org} tracks no campaign: `mc-pipelines campaigns track --org {org} --campaign ID`")
        return 0
    print(format_table(
        ["campaign", "title", "status", "sent", "open rate", "click rate", "unsubscribed", "bounces", "refreshed (UTC)"],
        [[c.campaign_id, c.title, c.status, c.emails_sent, _rate(c.open_rate), _rate(c.click_rate),
          c.unsubscribed, c.bounces,
          c.refreshed_at.isoformat(sep=" ", timespec="seconds") if c.refreshed_at else "never"] for c in found]))
    return 0


@campaigns.command("track", help="track a campaign of the org's Mailchimp account")
@org_option
@_CAMPAIGN
def cmd_track(org: str, campaign: str) -> int:
    """Look the campaign up and track it."""
    return _track(org, campaign)


@campaigns.command("untrack", help="stop tracking a campaign")
@org_option
@_CAMPAIGN
def cmd_untrack(org: str, campaign: str) -> int:
    """Stop refreshing the campaign's stats (its row is kept)."""
    actions.untrack_campaign(app_engine(), org, campaign, actor=cli_actor())
    print(f"org {org}: campaign {campaign.strip()} no longer tracked")
    return 0


@campaigns.command("refresh", help="read a tracked campaign's stats from Mailchimp now")
@org_option
@_CAMPAIGN
def cmd_refresh(org: str, campaign: str) -> int:
    """Refresh one tracked campaign now."""
    refreshed = actions.refresh_campaign(app_engine(), org, campaign, actor=cli_actor())
    print(f"org {org}: campaign {refreshed.campaign_id} refreshed ({_line(refreshed)})")
    return 0


COMMANDS = [cmd_track_campaign, campaigns]
