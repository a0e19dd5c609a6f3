"""`segments`: list (status, member count), create, update, delete (soft), sync one now."""

from __future__ import annotations

import json
from typing import Any

import click

from mc_pipelines.actions import segments as actions
from mc_pipelines.cli.support import app_engine, cli_actor, format_table, org_option
from mc_pipelines.errors import OperationError
from mc_pipelines.sync.segments import SEGMENT_TYPES

_ID = click.option("--id", "segment_id", required=True, type=click.IntRange(1, 2**63 - 1), help="segment id")
_TYPE = click.option("--type", "segment_type", type=click.Choice(SEGMENT_TYPES), help="contact type filter")
_FILTER = click.option("--filter", "filters", multiple=True, metavar="FIELD=VALUE",
                       help="a filter (repeatable; a field given twice matches any of its values; "
                            "tags=X requires tag X), e.g. department=Sales")
_FILTERS_JSON = click.option("--filters-json", help='all filters as JSON, e.g. {"location": ["Paris"]}')


def parse_filters(pairs: tuple[str, ...], as_json: str | None) -> dict[str, Any] | None:
    """`--filter` pairs or `--filters-json` → the filters object (None: not given)."""
    if as_json is not None:
        try:
            return json.loads(as_json)
        except ValueError:
            raise OperationError("--filters-json is not valid JSON: e.g. '{\"department\": \"Sales\"}'") from None
    if not pairs:
        return None
    filters: dict[str, list[str]] = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep or not field.strip() or not value.strip():
            raise OperationError(f"--filter {pair!r} must look like FIELD=VALUE, e.g. department=Sales")
        filters.setdefault(field.strip(), []).append(value.strip())
    return {k: (v if len(v) > 1 or k == "tags" else v[0]) for k, v in filters.items()}


def _print(segments: list[actions.Segment]) -> None:
    print(format_table(["id", "name", "tag", "type", "audience", "status", "members", "filters", "last synced (UTC)"],
                       [[s.id, s.name, s.mailchimp_tag, s.segment_type, s.audience_id or "(org's)", s.status,
                         s.member_count, json.dumps(s.filters, ensure_ascii=False),
                         s.last_synced_at.isoformat(sep=" ", timespec="seconds") if s.last_synced_at else "never"]
                        for s in segments]))


@click.group("segments", help="the org's segments: list, create, update, delete, sync")
def segments() -> None:
    """The org's segments."""


@segments.command("list", help="the org's segments with status and member count")
@org_option
def cmd_list(org: str) -> int:
    """Print the org's live segments."""
    found = actions.list_segments(app_engine(), org)
    if not found:
        print(f"org {org} has no segments: `mc-pipelines segments create --org {org} ...` adds one")
        return 0
    _print(found)
    return 0


@segments.command("create", help="create a segment (synced by the org's next sync)")
@org_option
@click.option("--name", required=True)
@click.option("--tag", required=True, help="the Mailchimp tag the segment manages")
@_TYPE
@_FILTER
@_FILTERS_JSON
@click.option("--description")
@click.option("--audience", help="another audience of the account (default: the org's)")
def cmd_create(org: str, name: str, tag: str, segment_type: str | None, filters: tuple[str, ...],
               filters_json: str | None, description: str | None, audience: str | None) -> int:
    """Create a pending segment."""
    created = actions.create_segment(app_engine(), org, actor=cli_actor(), name=name, mailchimp_tag=tag,
                                     segment_type=segment_type or "mixed",
                                     filters=parse_filters(filters, filters_json), description=description,
                                     audience_id=audience)
    print(f"org {org}: created segment {created.id} ({created.name!r}, tag {created.mailchimp_tag!r}, pending)")
    return 0


@segments.command("update", help="change a segment (back to pending)")
@org_option
@_ID
@click.option("--name")
@click.option("--tag")
@_TYPE
@_FILTER
@_FILTERS_JSON
@click.option("--description")
def cmd_update(org: str, segment_id: int, name: str | None, tag: str | None, segment_type: str | None,
               filters: tuple[str, ...], filters_json: str | None, description: str | None) -> int:
    """Change the fields given."""
    changes = {k: v for k, v in {"name": name, "mailchimp_tag": tag, "segment_type": segment_type,
                                 "filters": parse_filters(filters, filters_json),
                                 "description": description}.items() if v is not None}
    if not changes:
        raise OperationError("nothing to change: give --name, --tag, --type, --filter/--filters-json "
                             "or --description")
    updated = actions.update_segment(app_engine(), org, segment_id, actor=cli_actor(), **changes)
    print(f"org {org}: segment {updated.id} updated ({', '.join(sorted(changes))}); status pending")
    return 0


@segments.command("delete", help="soft-delete a segment (its tag is removed on the next sync)")
@org_option
@_ID
def cmd_delete(org: str, segment_id: int) -> int:
    """Soft-delete the segment."""
    actions.delete_segment(app_engine(), org, segment_id, actor=cli_actor())
    print(f"org {org}: segment {segment_id} deleted; the next sync removes its tag from the members it tagged")
    return 0


@segments.command("sync", help="sync a segment now (a sync request of the org)")
@org_option
@_ID
def cmd_sync(org: str, segment_id: int) -> int:
    """Mark the segment pending and request a sync of the org."""
    request_id = actions.sync_segment(app_engine(), org, segment_id, actor=cli_actor())
    print(f"org {org}: segment {segment_id} pending; sync requested (request {request_id}); "
          f"`mc-pipelines sync-status --org {org} --request {request_id}` shows its outcome")
    return 0


COMMANDS = [segments]
