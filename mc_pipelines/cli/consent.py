"""`consent show|record`: a contact's consent trail; record an opt-in or opt-out with its source."""

from __future__ import annotations

import click

from mc_pipelines.actions import preferences as actions
from mc_pipelines.cli.support import app_engine, cli_actor, format_table, org_option

_CONTACT = click.option("--contact", required=True, type=click.IntRange(1, 2**63 - 1),
                        help="the application's contact id")


def _show(found: actions.Preferences) -> None:
    print(f"contact {found.contact_id}: marketing consent {'on' if found.marketing_consent else 'off'}"
          + (" (soft-deleted)" if found.deleted else ""))
    if found.events:
        print(format_table(["at (UTC)", "consent", "source", "detail"],
                           [[e["at"].isoformat(sep=" ", timespec="seconds"), e["kind"], e["source"],
                             e["detail"] or ""] for e in found.events]))
    else:
        print("no consent change recorded")


@click.group("consent", help="a contact's marketing consent: show the trail, record an opt-in/opt-out")
def consent() -> None:
    """A contact's marketing consent."""


@consent.command("show", help="a contact's consent and its trail")
@org_option
@_CONTACT
def cmd_show(org: str, contact: int) -> int:
    """Print the consent and the trail, oldest first."""
    _show(actions.preferences(app_engine(), org, contact))
    return 0


@consent.command("record", help="record an opt-in (--given) or opt-out (--withdrawn) with its source (audited)")
@org_option
@_CONTACT
@click.option("--given/--withdrawn", required=True, help="opt-in or opt-out")
@click.option("--source", required=True, help="what recorded it, e.g. preference_center")
@click.option("--detail", help="a note kept with the event")
def cmd_record(org: str, contact: int, given: bool, source: str, detail: str | None) -> int:
    """Record the change; the next sync acts on it."""
    changed, found = actions.record_consent(app_engine(), org, contact, given=given, source=source,
                                            actor=cli_actor(), detail=detail)
    word = "given" if given else "withdrawn"
    print(f"org {org}: contact {contact} consent {word}" if changed else
          f"org {org}: contact {contact} consent already {word} (nothing written)")
    _show(found)
    return 0


COMMANDS = [consent]
