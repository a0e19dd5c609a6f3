"""`/orgs/{org_id}/segments`: list (status, member count), get, create, update, soft delete,
sync one now."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from mc_pipelines.actions import segments as actions
from mc_pipelines.api.endpoint import Call, Endpoint
from mc_pipelines.api.models import Body, Done, Out, Timestamp, omitted, text
from mc_pipelines.api.routes.syncs import SyncRequestOut, sync_request_out

FilterValue = text(200, 1) | list[text(200, 1)] | None
SegmentType = Literal["customer", "employee", "vendor", "mixed"]


class Filters(Body):
    """Contact filters; a field left out or null does not filter. Scalars match case-insensitively
    (a list: any of them); `tags` must all be carried."""

    department: FilterValue = None
    location: FilterValue = None
    employment_type: FilterValue = None
    employment_status: FilterValue = None
    tags: list[text(100, 1)] | None = None


class SegmentBody(Body):
    """A new segment."""

    name: text(255, 1)
    mailchimp_tag: text(100, 1) = Field(description="the Mailchimp tag the segment manages")
    segment_type: SegmentType = "mixed"
    filters: Filters = Field(default_factory=Filters)
    description: text(2000) | None = None
    audience_id: text(64, 1) | None = Field(default=None, description="null: the org's audience")


class SegmentPatch(Body):
    """The fields to change; fields left out keep their value."""

    name: text(255, 1) = omitted()
    mailchimp_tag: text(100, 1) = omitted()
    segment_type: SegmentType = omitted()
    filters: Filters = omitted()
    description: text(2000) | None = omitted(description="null or empty: no description")


class SegmentOut(Out):
    """A segment, its sync status and the members the project tagged."""

    id: int
    name: str
    description: str | None
    segment_type: str
    filters: dict[str, Any]
    audience_id: str | None
    mailchimp_tag: str
    status: str
    last_synced_at: Timestamp | None
    last_error: str | None
    member_count: int


class SegmentsOut(Out):
    """The org's live segments."""

    segments: list[SegmentOut]


def _out(segment: actions.Segment) -> SegmentOut:
    return SegmentOut(**vars(segment))


def _filters(filters: Filters | None) -> dict[str, Any] | None:
    return None if filters is None else filters.model_dump(exclude_none=True)


def list_all(call: Call) -> SegmentsOut:
    """The org's live segments."""
    return SegmentsOut(segments=[_out(s) for s in actions.list_segments(call.engine, call.org_id)])


def get_one(call: Call) -> SegmentOut:
    """One segment of the org."""
    return _out(actions.get_segment(call.engine, call.org_id, call.path["segment_id"]))


def create(call: Call) -> SegmentOut:
    """Create a pending segment."""
    body: SegmentBody = call.body
    return _out(actions.create_segment(
        call.engine, call.org_id, actor=call.actor, name=body.name, mailchimp_tag=body.mailchimp_tag,
        segment_type=body.segment_type, filters=_filters(body.filters), description=body.description,
        audience_id=body.audience_id))


def update(call: Call) -> SegmentOut:
    """Change a segment's definition."""
    body: SegmentPatch = call.body
    changes = body.model_dump(exclude_unset=True)
    if "filters" in changes:
        changes["filters"] = _filters(body.filters)
    return _out(actions.update_segment(call.engine, call.org_id, call.path["segment_id"],
                                       actor=call.actor, **changes))


def delete(call: Call) -> Done:
    """Soft-delete a segment."""
    actions.delete_segment(call.engine, call.org_id, call.path["segment_id"], actor=call.actor)
    return Done(changed=True)


def sync(call: Call) -> SyncRequestOut:
    """Request a sync of the org for this segment now."""
    request_id = actions.sync_segment(call.engine, call.org_id, call.path["segment_id"], actor=call.actor)
    return sync_request_out(call.org_id, request_id)


ONE = "/orgs/{org_id}/segments/{segment_id}"
ENDPOINTS = [
    Endpoint("GET", "/orgs/{org_id}/segments", "list_segments", "The org's segments", list_all,
             response=SegmentsOut, tag="segments"),
    Endpoint("POST", "/orgs/{org_id}/segments", "create_segment", "Create a segment", create,
             body=SegmentBody, response=SegmentOut, status=201, errors=(400, 404, 409), tag="segments"),
    Endpoint("GET", ONE, "get_segment", "One segment", get_one, response=SegmentOut, tag="segments"),
    Endpoint("PATCH", ONE, "update_segment", "Change a segment", update, body=SegmentPatch,
             response=SegmentOut, errors=(400, 404, 409), tag="segments"),
    Endpoint("DELETE", ONE, "delete_segment", "Soft-delete a segment (its tag is removed on the "
             "next sync)", delete, response=Done, tag="segments"),
    Endpoint("POST", ONE + "/sync", "sync_segment", "Sync this segment now (a sync request of the org)",
             sync, response=SyncRequestOut, status=202, errors=(404, 409), tag="segments"),
]
