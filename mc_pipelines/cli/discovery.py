"""Discovery: `list-audiences` (of a key or token before connecting, or of a connected org) and
`list-merge-fields`; the credential options shared with `connect`, and the newcomer's audience
picker (`connect` without `--audience`).

Credentials come from `--api-key -` / `--oauth-token -` (one line of stdin) or `MC_API_KEY` /
`MC_OAUTH_TOKEN`, so they need not appear in shell history; they are never printed.
"""

from __future__ import annotations

import os
import sys

import click

from mc_pipelines.actions import audiences
from mc_pipelines.actions.audiences import AccountAudiences
from mc_pipelines.cli.support import app_engine, format_table
from mc_pipelines.errors import FixableError

API_KEY = click.option("--api-key", help="the Mailchimp API key; '-' reads it from stdin; default: $MC_API_KEY")
OAUTH_TOKEN = click.option("--oauth-token",
                           help="an OAuth access token instead of a key ('-': from stdin; default: "
                                "$MC_OAUTH_TOKEN); its data centre is read from Mailchimp's OAuth metadata")


def _given(option: str | None) -> str | None:
    return sys.stdin.readline().rstrip("\r\n") if option == "-" else option


def read_credential(api_key: str | None, oauth_token: str | None) -> tuple[str, bool]:
    """(secret, is_oauth) from the options or the environment, or a clear error."""
    if api_key is not None and oauth_token is not None:
        raise FixableError("give either --api-key or --oauth-token, not both")
    if oauth_token is not None:
        return _given(oauth_token) or "", True
    if api_key is not None:
        return _given(api_key) or "", False
    if os.environ.get("MC_API_KEY"):
        return os.environ["MC_API_KEY"], False
    if os.environ.get("MC_OAUTH_TOKEN"):
        return os.environ["MC_OAUTH_TOKEN"], True
    raise FixableError(
        "no Mailchimp API key given: pass `--api-key -` and paste the key on stdin, or set "
        "MC_API_KEY (either keeps it out of shell history); or use --oauth-token / MC_OAUTH_TOKEN")


def audience_table(found: AccountAudiences) -> str:
    """The account line and a numbered table of its audiences."""
    rows = [[n, a.id, a.name, a.member_count] for n, a in enumerate(found.audiences, start=1)]
    return (f"Mailchimp account {found.account_name!r} (dc {found.dc}): {len(rows)} audience(s)\n"
            + format_table(["#", "audience id", "name", "members"], rows))


def pick_audience(found: AccountAudiences, org: str, oauth: bool) -> str:
    """The newcomer's choice: the audiences listed, then a number asked for on a terminal; off a
    terminal (or with no audience at all) an error naming the exact command to run."""
    print(audience_table(found))
    flag = "--oauth-token -" if oauth else "--api-key -"
    if not found.audiences:
        raise FixableError(f"the Mailchimp account {found.account_name!r} has no audience: create "
                           "one in Mailchimp (Audience → All contacts), then connect again")
    if not sys.stdin.isatty():
        raise FixableError(f"no audience given: pick one above and run `mc-pipelines connect --org "
                           f"{org} {flag} --audience AUDIENCE_ID`")
    number = click.prompt(f"pick an audience for org {org} [1-{len(found.audiences)}]",
                          type=click.IntRange(1, len(found.audiences)))
    return found.audiences[number - 1].id


@click.command("list-audiences",
               help="the audiences of a Mailchimp account: of --org's connection, or of a key or "
                    "token before connecting (nothing stored)")
@click.option("--org", help="a connected org (else give a key or token)")
@API_KEY
@OAUTH_TOKEN
def cmd_list_audiences(org: str | None, api_key: str | None, oauth_token: str | None) -> int:
    """Print the account's audiences with their ids and member counts."""
    if org and api_key is None and oauth_token is None:
        found = audiences.org_audiences(app_engine(), org)
    else:
        secret, oauth = read_credential(api_key, oauth_token)
        found = audiences.discover_audiences(secret, oauth=oauth)
    print(audience_table(found))
    return 0


@click.command("list-merge-fields", help="the merge fields of the org's audience (or of --audience)")
@click.option("--org", required=True, help="org id (connected)")
@click.option("--audience", help="an audience id of the org's account (default: the connected one)")
def cmd_list_merge_fields(org: str, audience: str | None) -> int:
    """Print the audience's merge tags, names, types and whether they are required."""
    fields = audiences.merge_fields(app_engine(), org, audience)
    print(format_table(["tag", "name", "type", "required"],
                       [[f.tag, f.name, f.type, "yes" if f.required else "no"] for f in fields]))
    print("map one with `mc-pipelines set-options --org ORG --merge-field TAG=column`")
    return 0


COMMANDS = [cmd_list_audiences, cmd_list_merge_fields]
