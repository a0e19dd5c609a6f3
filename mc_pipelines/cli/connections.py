"""Connection management: `connect`, `test-connection`, `disconnect`, `enable`, `disable`, `status`.

The API key is read from `--api-key -` (stdin) or `MC_API_KEY` so it need not appear in shell
history; it is never printed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from mc_pipelines.actions import connections as connection_actions
from mc_pipelines.actions.connections import check_connection, connect_org
from mc_pipelines.actions.status import org_status_rows
from mc_pipelines.cli.base import OperatorError, app_engine
from mc_pipelines.cli.support import add_org_command, cli_actor, fixable, format_table
from mc_pipelines.store.contacts import CONTACT_COLUMNS
from mc_pipelines.store.secrets import decrypt_secret

_MERGE_TAG = re.compile(r"^[A-Z][A-Z0-9_]{0,9}$")


def read_api_key(option: str | None) -> str:
    """The key from `--api-key KEY`, `--api-key -` (one line of stdin) or `MC_API_KEY`."""
    if option == "-":
        return sys.stdin.readline().rstrip("\r\n")
    if option is not None:
        return option
    key = os.environ.get("MC_API_KEY")
    if not key:
        raise OperatorError(
            "no Mailchimp API key given: pass `--api-key -` and paste the key on stdin, or set "
            "MC_API_KEY (either keeps it out of shell history)"
        )
    return key


def parse_merge_fields(pairs: list[str] | None) -> dict[str, str] | None:
    """`["FNAME=first_name", ...]` → `{"FNAME": "first_name"}`, or a clear error."""
    if not pairs:
        return None
    mapping: dict[str, str] = {}
    for pair in pairs:
        tag, sep, column = pair.partition("=")
        tag, column = tag.strip().upper(), column.strip()
        if not sep or not _MERGE_TAG.match(tag) or not column:
            raise OperatorError(
                f"--merge-field {pair!r} must look like TAG=column, e.g. FNAME=first_name "
                "(TAG: a Mailchimp merge tag, letters/digits/_, at most 10 characters)"
            )
        if column not in CONTACT_COLUMNS:
            raise OperatorError(
                f"--merge-field {pair!r}: {column!r} is not a contact column; use one of "
                f"{', '.join(CONTACT_COLUMNS)}"
            )
        mapping[tag] = column
    return mapping


@fixable
def cmd_connect(args: argparse.Namespace) -> int:
    """Check the key and audience with Mailchimp, then store the key encrypted."""
    engine = app_engine()
    merge_fields = parse_merge_fields(args.merge_field)
    check = connect_org(engine, args.org, read_api_key(args.api_key), args.audience,
                        auto_sync=args.auto_sync, actor=cli_actor(), merge_fields=merge_fields)
    print(f"connected org {args.org} to audience {check.audience_name!r} ({check.audience_id}, "
          f"{check.member_count} members) of Mailchimp account {check.account_name!r} (dc {check.dc})")
    print(f"API key stored encrypted; auto_sync {'on' if args.auto_sync else 'off'}")
    print(f"next: `mc-pipelines sync --org {args.org}` syncs now; org_partitions_sensor adds the "
          "org's partition on its next tick")
    return 0


@fixable
def cmd_test_connection(args: argparse.Namespace) -> int:
    """Ping Mailchimp and read the audience with the stored key (writes nothing)."""
    connection = connection_actions.require_connected(app_engine(), args.org)
    check = check_connection(decrypt_secret(connection.api_key_encrypted or ""), connection.audience_id or "")
    print(f"ok: org {args.org} reaches audience {check.audience_name!r} ({check.audience_id}, "
          f"{check.member_count} members) in account {check.account_name!r} (dc {check.dc}); "
          f"sync {'enabled' if connection.enabled else 'disabled'}")
    return 0


@fixable
def cmd_disconnect(args: argparse.Namespace) -> int:
    """Clear the stored key and webhook secret; keep the row and the history."""
    connection_actions.disconnect(app_engine(), args.org, actor=cli_actor())
    print(f"disconnected org {args.org}: API key and webhook secret deleted, syncing stopped "
          "(history kept); org_partitions_sensor removes its partition on its next tick")
    return 0


def _set_enabled(args: argparse.Namespace, enabled: bool) -> int:
    word = "enabled" if enabled else "disabled"
    if connection_actions.set_enabled(app_engine(), args.org, enabled, actor=cli_actor()):
        print(f"org {args.org}: sync {word}")
    else:
        print(f"org {args.org}: sync already {word} (nothing changed)")
    return 0


@fixable
def cmd_enable(args: argparse.Namespace) -> int:
    """Resume syncing a connected org."""
    return _set_enabled(args, True)


@fixable
def cmd_disable(args: argparse.Namespace) -> int:
    """Pause syncing (the key stays stored)."""
    return _set_enabled(args, False)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


@fixable
def cmd_status(_args: argparse.Namespace) -> int:
    """A table of every org's connection and latest sync."""
    rows = org_status_rows(app_engine())
    if not rows:
        print("no orgs in the application database")
        return 0
    print(format_table(
        ["org", "connected", "enabled", "auto_sync", "audience", "last sync (UTC)", "status",
         "members", "errors (last run)"],
        [[r.org_id, _yes(r.connected), _yes(r.enabled) if r.connected else "-",
          _yes(r.auto_sync) if r.connected else "-", r.audience_id or "-",
          r.last_sync_at.isoformat(sep=" ", timespec="seconds") if r.last_sync_at else "never",
          r.last_sync_status or "-", r.members_in_state,
          "-" if r.last_run_errors is None else r.last_run_errors] for r in rows],
    ))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands."""
    p = subparsers.add_parser("connect", help="connect an org to its Mailchimp audience (key stored encrypted)")
    p.add_argument("--org", required=True, help="org id")
    p.add_argument("--api-key", help="the Mailchimp API key; '-' reads it from stdin; default: $MC_API_KEY")
    p.add_argument("--audience", required=True, help="the Mailchimp audience (list) id")
    p.add_argument("--auto-sync", action="store_true", help="include the org in the daily 05:00 UTC sync")
    p.add_argument("--merge-field", action="append", metavar="TAG=column",
                   help="map a merge tag to a contact column (repeatable), e.g. FNAME=first_name")
    p.set_defaults(handler=cmd_connect)
    add_org_command(subparsers, "test-connection", cmd_test_connection, "check the stored key and audience")
    add_org_command(subparsers, "disconnect", cmd_disconnect, "delete the stored key; stop syncing")
    add_org_command(subparsers, "enable", cmd_enable, "resume syncing a connected org")
    add_org_command(subparsers, "disable", cmd_disable, "pause syncing a connected org")
    p = subparsers.add_parser("status", help="every org's connection, last sync and error counts")
    p.set_defaults(handler=cmd_status)
