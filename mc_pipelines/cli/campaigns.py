"""CLI commands: campaigns — `track-campaign` starts tracking a Mailchimp campaign's stats."""

from __future__ import annotations

import argparse

from mc_pipelines.cli.base import OperatorError, app_engine
from mc_pipelines.cli.support import add_org_command, cli_actor, fixable
from mc_pipelines.effects.campaign_refresh import fetch_stats
from mc_pipelines.mailchimp.errors import MailchimpError, ResourceNotFound
from mc_pipelines.mailchimp.runner import run_sync
from mc_pipelines.resources import MailchimpResource
from mc_pipelines.store.campaigns import track_campaign
from mc_pipelines.store.connections import require_active_connection


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands."""
    parser = add_org_command(
        subparsers, "track-campaign", _track_campaign,
        "track a Mailchimp campaign's stats (looked up in the org's Mailchimp account)")
    parser.add_argument("--campaign", required=True, metavar="ID",
                        help="the campaign id Mailchimp's API uses (e.g. 42694e9e57)")


@fixable
def _track_campaign(args: argparse.Namespace) -> int:
    campaign_id = args.campaign.strip()
    if not campaign_id or "/" in campaign_id:
        raise OperatorError(f"campaign id {args.campaign!r} is not a Mailchimp campaign id: "
                            "pass the id the API shows (e.g. 42694e9e57), not a name or URL")
    engine = app_engine()
    connection = require_active_connection(engine, args.org)

    async def lookup() -> dict:
        async with MailchimpResource().client_for(connection) as client:
            return await fetch_stats(client, campaign_id)

    account = connection.account_name or "its Mailchimp account"
    try:
        stats = run_sync(lookup())
    except ResourceNotFound:
        raise OperatorError(
            f"campaign {campaign_id!r} was not found in the Mailchimp account of org {args.org!r} "
            f"({account}): check the id (Mailchimp API campaign id, not the web id or title); "
            "nothing was written") from None
    except MailchimpError as exc:
        raise OperatorError(f"could not read campaign {campaign_id!r} for org {args.org!r}: {exc}; "
                            "nothing was written") from None
    new = track_campaign(engine, args.org, campaign_id, stats, actor=cli_actor())
    verb = "now tracking" if new else "already tracked, updated"
    print(f"org {args.org}: {verb} campaign {campaign_id} ({stats.get('title') or 'untitled'}, "
          f"status {stats.get('status')}, {stats.get('emails_sent') or 0} emails sent)")
    return 0
