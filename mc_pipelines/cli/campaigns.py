"""CLI commands: campaigns — `track-campaign` starts tracking a Mailchimp campaign's stats."""

from __future__ import annotations

import click

from mc_pipelines.cli.support import app_engine, cli_actor, org_option
from mc_pipelines.effects.campaign_refresh import fetch_stats
from mc_pipelines.errors import FixableError
from mc_pipelines.mailchimp.errors import MailchimpError, ResourceNotFound
from mc_pipelines.mailchimp.runner import run_sync
from mc_pipelines.resources import MailchimpResource
from mc_pipelines.store.campaigns import track_campaign
from mc_pipelines.store.connections import require_active_connection


@click.command("track-campaign",
               help="track a Mailchimp campaign's stats (looked up in the org's Mailchimp account)")
@org_option
@click.option("--campaign", required=True, metavar="ID",
              help="the campaign id Mailchimp's API uses (e.g. 42694e9e57)")
def cmd_track_campaign(org: str, campaign: str) -> int:
    """Look the campaign up in the org's Mailchimp account and track its stats."""
    campaign_id = campaign.strip()
    if not campaign_id or "/" in campaign_id:
        raise FixableError(f"campaign id {campaign!r} is not a Mailchimp campaign id: "
                           "pass the id the API shows (e.g. 42694e9e57), not a name or URL")
    engine = app_engine()
    connection = require_active_connection(engine, org)

    async def lookup() -> dict:
        async with MailchimpResource().client_for(connection) as client:
            return await fetch_stats(client, campaign_id)

    account = connection.account_name or "its Mailchimp account"
    try:
        stats = run_sync(lookup())
    except ResourceNotFound:
        raise FixableError(
            f"campaign {campaign_id!r} was not found in the Mailchimp account of org {org!r} "
            f"({account}): check the id (Mailchimp API campaign id, not the web id or title); "
            "nothing was written") from None
    except MailchimpError as exc:
        raise FixableError(f"could not read campaign {campaign_id!r} for org {org!r}: {exc}; "
                           "nothing was written") from None
    new = track_campaign(engine, org, campaign_id, stats, actor=cli_actor())
    verb = "now tracking" if new else "already tracked, updated"
    print(f"org {org}: {verb} campaign {campaign_id} ({stats.get('title') or 'untitled'}, "
          f"status {stats.get('status')}, {stats.get('emails_sent') or 0} emails sent)")
    return 0


COMMANDS = [cmd_track_campaign]
