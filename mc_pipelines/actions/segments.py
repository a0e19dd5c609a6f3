"""The org's segments: list (with status and member count), read, create, update, soft delete,
and "sync this segment now" (a sync request: segments are synced by the org's audience sync, the
only run that may move managed tags). Every change is audited; another org's segment id is
"not found", never visible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from mc_pipelines.actions.sync_requests import request_sync_now
from mc_pipelines.errors import ConflictError, NotFoundError, OperationError
from mc_pipelines.store import connections, segment_admin
from mc_pipelines.sync.segments import MAX_TAG_LENGTH, SEGMENT_TYPES, validate_filters

_UNSET: Any = object()


@dataclass(frozen=True)
class Segment:
    """A segment as operators see it: its definition, sync status and tagged member count."""

    id: int
    name: str
    description: str | None
    segment_type: str
    filters: dict[str, Any]
    audience_id: str | None
    mailchimp_tag: str
    status: str
    last_synced_at: datetime | None
    last_error: str | None
    member_count: int


def _segment(engine: Engine, org_id: str, row: dict[str, Any], default_audience: str | None) -> Segment:
    count = segment_admin.tagged_member_count(engine, org_id, row["audience_id"] or default_audience,
                                              row["mailchimp_tag"])
    return Segment(**{k: row[k] for k in Segment.__dataclass_fields__ if k != "member_count"},
                   member_count=count)


def _default_audience(engine: Engine, org_id: str) -> str | None:
    connection = connections.get_connection(engine, org_id)
    return connection.audience_id if connection else None


def list_segments(engine: Engine, org_id: str) -> list[Segment]:
    """The org's live segments, ordered by id."""
    connections.require_org(engine, org_id)
    audience = _default_audience(engine, org_id)
    return [_segment(engine, org_id, row, audience) for row in segment_admin.list_segments(engine, org_id)]


def get_segment(engine: Engine, org_id: str, segment_id: int) -> Segment:
    """One live segment of the org, or NotFoundError."""
    connections.require_org(engine, org_id)
    row = segment_admin.get_segment(engine, org_id, segment_id)
    if row is None:
        raise NotFoundError(f"segment {segment_id} does not exist in org {org_id!r} (or was deleted): "
                            f"list the org's segments with `mc-pipelines segments list --org {org_id}`")
    return _segment(engine, org_id, row, _default_audience(engine, org_id))


def _text(value: Any, field: str, limit: int, *, required: bool) -> str | None:
    if not required and (value is None or (isinstance(value, str) and not value.strip())):
        return None
    if not isinstance(value, str) or not value.strip():
        raise OperationError(f"{field} must be a non-empty text")
    value = value.strip()
    if len(value) > limit or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise OperationError(f"{field} must be at most {limit} characters without control characters")
    return value


def validate_segment(values: Mapping[str, Any]) -> dict[str, Any]:
    """The given segment fields, checked and trimmed; OperationError names the field to fix."""
    clean: dict[str, Any] = {}
    unknown = sorted(set(values) - set(segment_admin.EDITABLE))
    if unknown:
        raise OperationError(f"unknown segment field(s) {', '.join(unknown)}: use "
                             f"{', '.join(segment_admin.EDITABLE)}")
    for name, limit, required in (("name", 255, True), ("mailchimp_tag", MAX_TAG_LENGTH, True),
                                  ("description", 2000, False), ("audience_id", 64, False)):
        if name in values:
            clean[name] = _text(values[name], name, limit, required=required)
    if "segment_type" in values:
        if values["segment_type"] not in SEGMENT_TYPES:
            raise OperationError(f"segment_type must be one of {', '.join(SEGMENT_TYPES)}, "
                                 f"not {values['segment_type']!r}")
        clean["segment_type"] = values["segment_type"]
    if "filters" in values:
        filters = values["filters"] if values["filters"] is not None else {}
        problems = validate_filters(filters)
        if problems:
            raise OperationError("filters: " + "; ".join(problems))
        clean["filters"] = dict(filters)
    return clean


def _check_tag_free(engine: Engine, org_id: str, tag: str, audience_id: str | None,
                    segment_id: int | None = None) -> None:
    owner = segment_admin.live_tag_owner(engine, org_id, tag, audience_id)
    if owner is not None and owner != segment_id:
        raise ConflictError(f"tag {tag!r} is already managed by segment {owner} of org {org_id!r} "
                            "in the same audience: pick another tag or update that segment")


def create_segment(engine: Engine, org_id: str, *, actor: str, name: str, mailchimp_tag: str,
                   segment_type: str = "mixed", filters: Mapping[str, Any] | None = None,
                   description: str | None = None, audience_id: str | None = None) -> Segment:
    """Create a pending segment (synced by the org's next audience sync); audited."""
    connections.require_org(engine, org_id)
    values = validate_segment({"name": name, "mailchimp_tag": mailchimp_tag, "segment_type": segment_type,
                               "filters": filters, "description": description, "audience_id": audience_id})
    _check_tag_free(engine, org_id, values["mailchimp_tag"], values["audience_id"])
    segment_id = segment_admin.insert_segment(engine, org_id, values, actor=actor)
    return get_segment(engine, org_id, segment_id)


def update_segment(engine: Engine, org_id: str, segment_id: int, *, actor: str,
                   **changes: Any) -> Segment:
    """Change a segment's definition (status back to pending); audited. Returns the segment."""
    current = get_segment(engine, org_id, segment_id)
    values = validate_segment(changes)
    if not values:
        return current
    tag = values.get("mailchimp_tag", current.mailchimp_tag)
    audience = values.get("audience_id", current.audience_id)
    _check_tag_free(engine, org_id, tag, audience, segment_id)
    segment_admin.update_segment(engine, org_id, segment_id, values, actor=actor)
    return get_segment(engine, org_id, segment_id)


def delete_segment(engine: Engine, org_id: str, segment_id: int, *, actor: str) -> None:
    """Soft-delete a segment: the next sync removes its tag from the members it tagged."""
    get_segment(engine, org_id, segment_id)
    segment_admin.soft_delete_segment(engine, org_id, segment_id, actor=actor)


def sync_segment(engine: Engine, org_id: str, segment_id: int, *, actor: str) -> str:
    """Mark the segment pending and request a sync of the org now (the run that syncs segments);
    returns the sync request id to poll."""
    get_segment(engine, org_id, segment_id)
    connections.require_active_connection(engine, org_id)
    segment_admin.update_segment(engine, org_id, segment_id, {}, actor=actor, action="segment_sync")
    return request_sync_now(engine, org_id, requested_by=actor)
