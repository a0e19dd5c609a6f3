"""Connection management: `connect`, `test-connection`, `disconnect`, `enable`, `disable`, `status`.

The API key (or OAuth token) is read from `--api-key -` / `--oauth-token -` (stdin) or the
environment so it need not appear in shell history; it is never printed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import click

from mc_pipelines.actions import connections as connection_actions
from mc_pipelines.actions.audiences import discover_audiences
from mc_pipelines.actions.connections import connect_org
from mc_pipelines.actions.status import org_status_rows
from mc_pipelines.cli.discovery import API_KEY, OAUTH_TOKEN, pick_audience, read_credential
from mc_pipelines.cli.support import app_engine, cli_actor, format_table, org_option
from mc_pipelines.errors import FixableError, OperationError
from mc_pipelines.store.connections import require_org
from mc_pipelines.store.contacts import CONTACT_COLUMNS
from mc_pipelines.sync import lifecycle as lc

_MERGE_TAG = re.compile(r"^[A-Z][A-Z0-9_]{0,9}$")


def parse_merge_fields(pairs: Sequence[str] | None) -> dict[str, str] | None:
    """`["FNAME=first_name", ...]` → `{"FNAME": "first_name"}`, or a clear error."""
    if not pairs:
        return None
    mapping: dict[str, str] = {}
    for pair in pairs:
        tag, sep, column = pair.partition("=")
        tag, column = tag.strip().upper(), column.strip()
        if not sep or not _MERGE_TAG.match(tag) or not column:
            raise FixableError(
                f"--merge-field {pair!r} must look like TAG=column, e.g. FNAME=first_name "
                "(TAG: a Mailchimp merge tag, letters/digits/_, at most 10 characters)"
            )
        if column not in CONTACT_COLUMNS:
            raise FixableError(
                f"--merge-field {pair!r}: {column!r} is not a contact column; use one of "
                f"{', '.join(CONTACT_COLUMNS)}"
            )
        mapping[tag] = column
    return mapping


EXISTING_MEMBERS = click.option(
    "--existing-members", type=click.Choice(lc.EXISTING_MEMBERS_OPTIONS),
    help="members already in the audience before the project: keep their fields and managed tags "
         "up to date (update, the default) or leave them alone (leave); their status is never changed")
RECONSENT = click.option(
    "--reconsent", type=click.Choice(lc.RECONSENT_OPTIONS),
    help="app consent given again after an opt-out made in Mailchimp: ask the person to confirm by "
         "email (pending, the default) or only report it (report)")


@click.command("connect", help="connect an org to its Mailchimp audience (key or OAuth token stored "
               "encrypted; without --audience, lists the account's audiences to pick from)")
@org_option
@API_KEY
@OAUTH_TOKEN
@click.option("--audience", help="the Mailchimp audience (list) id; left out: pick from the list")
@click.option("--auto-sync", is_flag=True, help="include the org in the daily 05:00 UTC sync")
@click.option("--merge-field", multiple=True, metavar="TAG=column",
              help="map a merge tag to a contact column (repeatable), e.g. FNAME=first_name")
@EXISTING_MEMBERS
@RECONSENT
def cmd_connect(org: str, api_key: str | None, oauth_token: str | None, audience: str | None,
                auto_sync: bool, merge_field: tuple[str, ...], existing_members: str | None,
                reconsent: str | None) -> int:
    """Check the credential, audience and merge-field map with Mailchimp, then store the
    credential encrypted."""
    engine = app_engine()
    merge_fields = parse_merge_fields(merge_field)
    secret, oauth = read_credential(api_key, oauth_token)
    if audience is None:
        require_org(engine, org)
        audience = pick_audience(discover_audiences(secret, oauth=oauth), org, oauth)
    check = connect_org(engine, org, secret, audience, auto_sync=auto_sync, actor=cli_actor(),
                        merge_fields=merge_fields, existing_members=existing_members,
                        reconsent=reconsent, oauth=oauth)
    print(f"connected org {org} to audience {check.audience_name!r} ({check.audience_id}, "
          f"{check.member_count} members) of Mailchimp account {check.account_name!r} (dc {check.dc})")
    print(f"{'OAuth token' if oauth else 'API key'} stored encrypted; auto_sync {'on' if auto_sync else 'off'}")
    print(f"next: `mc-pipelines sync --org {org}` syncs now; org_partitions_sensor adds the "
          "org's partition on its next tick")
    return 0


@click.command("test-connection", help="check the stored key and audience")
@org_option
def cmd_test_connection(org: str) -> int:
    """Ping Mailchimp and read the audience with the stored key (writes nothing)."""
    engine = app_engine()
    connection = connection_actions.require_connected(engine, org)
    check = connection_actions.test_stored_connection(engine, org)
    print(f"ok: org {org} reaches audience {check.audience_name!r} ({check.audience_id}, "
          f"{check.member_count} members) in account {check.account_name!r} (dc {check.dc}); "
          f"sync {'enabled' if connection.enabled else 'disabled'}")
    return 0


@click.command("disconnect", help="delete the stored key; stop syncing")
@org_option
def cmd_disconnect(org: str) -> int:
    """Clear the stored key and webhook secret; keep the row and the history."""
    connection_actions.disconnect(app_engine(), org, actor=cli_actor())
    print(f"disconnected org {org}: API key and webhook secret deleted, syncing stopped "
          "(history kept); org_partitions_sensor removes its partition on its next tick")
    return 0


def _set_enabled(org: str, enabled: bool) -> int:
    word = "enabled" if enabled else "disabled"
    if connection_actions.set_enabled(app_engine(), org, enabled, actor=cli_actor()):
        print(f"org {org}: sync {word}")
    else:
        print(f"org {org}: sync already {word} (nothing changed)")
    return 0


@click.command("enable", help="resume syncing a connected org")
@org_option
def cmd_enable(org: str) -> int:
    """Resume syncing a connected org."""
    return _set_enabled(org, True)


@click.command("disable", help="pause syncing a connected org")
@org_option
def cmd_disable(org: str) -> int:
    """Pause syncing (the key stays stored)."""
    return _set_enabled(org, False)


@click.command("set-options", help="change the org's settings: lifecycle options, auto-sync, "
               "merge-field map (checked against the audience); audited")
@org_option
@EXISTING_MEMBERS
@RECONSENT
@click.option("--auto-sync", type=click.Choice(["on", "off"]), help="the daily 05:00 UTC sync")
@click.option("--merge-field", multiple=True, metavar="TAG=column",
              help="the new merge-field map (repeatable; replaces the stored one), e.g. FNAME=first_name")
def cmd_set_options(org: str, existing_members: str | None, reconsent: str | None,
                    auto_sync: str | None, merge_field: tuple[str, ...]) -> int:
    """Change settings of a connected org (only those given)."""
    if existing_members is None and reconsent is None and auto_sync is None and not merge_field:
        raise OperationError("nothing to change: give --existing-members, --reconsent, --auto-sync "
                             "and/or --merge-field")
    changed = connection_actions.set_options(
        app_engine(), org, actor=cli_actor(), existing_members=existing_members, reconsent=reconsent,
        auto_sync=None if auto_sync is None else auto_sync == "on",
        merge_fields=parse_merge_fields(merge_field))
    if changed:
        print(f"org {org}: " + ", ".join(f"{k} = {v}" for k, v in sorted(changed.items())))
    else:
        print(f"org {org}: options already so (nothing changed)")
    return 0


def _yes(value: bool) -> str:
    return "yes" if value else "no"


@click.command("status", help="every org's connection, last sync and error counts")
def cmd_status() -> int:
    """A table of every org's connection and latest sync."""
    rows = org_status_rows(app_engine())
    if not rows:
        print("no orgs in the application database")
        return 0
    print(format_table(
        ["org", "connected", "enabled", "auto_sync", "account (dc)", "audience", "last sync (UTC)",
         "status", "members", "errors (last run)"],
        [[r.org_id, _yes(r.connected), _yes(r.enabled) if r.connected else "-",
          _yes(r.auto_sync) if r.connected else "-",
          f"{r.account_name or '?'} ({r.dc})" if r.connected else "-", r.audience_id or "-",
          r.last_sync_at.isoformat(sep=" ", timespec="seconds") if r.last_sync_at else "never",
          r.last_sync_status or "-", r.members_in_state,
          "-" if r.last_run_errors is None else r.last_run_errors] for r in rows],
    ))
    return 0


COMMANDS = [cmd_connect, cmd_test_connection, cmd_disconnect, cmd_enable, cmd_disable,
            cmd_set_options, cmd_status]
