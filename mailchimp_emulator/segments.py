"""Segment writes: static segments (tags), batch add/remove."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from .emails import subscriber_hash
from .errors import MAX_BATCH, ApiError, invalid_field, required_missing, schema_type_error
from .members import check_tag_name
from .model import AudienceList, EmulatorState, Member, Segment
from .rendering import members_json, render_member

# --------------------------------------------------------------------------------------------
# Segments
# --------------------------------------------------------------------------------------------

ERROR_NOT_ON_LIST = "Email address does not belong to this list"


def _email_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        raise schema_type_error(key, "array of strings", value)
    if len(value) > MAX_BATCH:
        raise invalid_field(key, f"A maximum of {MAX_BATCH} members can be sent in {key}.")
    return value


def create_segment(state: EmulatorState, lst: AudienceList, body: Any, now: int) -> Segment:
    """``POST /lists/{id}/segments``: ``static_segment`` (a tag) or ``options`` (saved)."""
    if not isinstance(body, dict) or not body.get("name"):
        raise required_missing("", ["name"])
    name = body["name"]
    check_tag_name(name, "name")
    if "static_segment" in body:
        emails = body["static_segment"]
        if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
            raise schema_type_error("static_segment", "array of strings", emails)
        if name.strip().lower() in lst.seg_by_name:
            raise ApiError(
                400, "Invalid Resource", f"A tag or segment named '{name}' already exists."
            )
        seg = lst.tag_segment(name.strip(), now, state.next_segment_id)
        for email in emails:
            m = lst.members.get(subscriber_hash(email))
            if m is not None:
                lst.add_tag(m, seg, now)
        return seg
    if "options" in body:
        if not isinstance(body["options"], dict):
            raise schema_type_error("options", "object", body["options"])
        seg = Segment(state.next_segment_id(), name, "saved", now, body["options"])
        lst.segments[seg.id] = seg
        return seg
    raise invalid_field("", "Either static_segment or options must be provided")


def batch_segment(lst: AudienceList, seg: Segment, body: Any, now: int) -> SegmentResult:
    """``POST /lists/{id}/segments/{segment_id}``: ≤500 adds and ≤500 removes; emails that are
    not on the list are reported in ``errors`` and otherwise ignored."""
    if not isinstance(body, dict):
        raise schema_type_error("", "object", body)
    to_add = _email_list(body, "members_to_add")
    to_remove = _email_list(body, "members_to_remove")
    if seg.type != "static":
        raise ApiError(
            400,
            "Invalid Resource",
            "Members can only be added to or removed from static segments (tags).",
        )
    added: list[Member] = []
    removed: list[Member] = []
    missing: list[str] = []
    members = lst.members
    for email in to_add:
        m = members.get(subscriber_hash(email))
        if m is None:
            missing.append(email)
        elif lst.add_tag(m, seg, now):
            added.append(m)
    for email in to_remove:
        m = members.get(subscriber_hash(email))
        if m is None:
            missing.append(email)
        elif lst.remove_tag(m, seg, now):
            removed.append(m)
    return SegmentResult(added, removed, missing)


class SegmentResult(NamedTuple):
    """Outcome of a segment batch add/remove."""

    added: list[Member]
    removed: list[Member]
    missing: list[str]

    def _errors(self) -> list[dict[str, Any]]:
        return (
            [{"email_addresses": self.missing, "error": ERROR_NOT_ON_LIST}] if self.missing else []
        )

    def render(self, lst: AudienceList) -> dict[str, Any]:
        """The response document."""
        return {
            "members_added": [render_member(lst, m) for m in self.added],
            "members_removed": [render_member(lst, m) for m in self.removed],
            "errors": self._errors(),
            "total_added": len(self.added),
            "total_removed": len(self.removed),
            "error_count": len(self.missing),
            "_links": [],
        }

    def json(self, lst: AudienceList) -> str:
        """The response document serialized directly."""
        return (
            f'{{"members_added":{members_json(lst, self.added)},'
            f'"members_removed":{members_json(lst, self.removed)},'
            f'"errors":{json.dumps(self._errors(), ensure_ascii=False)},'
            f'"total_added":{len(self.added)},"total_removed":{len(self.removed)},'
            f'"error_count":{len(self.missing)},"_links":[]}}'
        )


def delete_segment(lst: AudienceList, seg: Segment) -> None:
    """Delete a segment/tag and take it off every member."""
    for h in list(seg.members):
        m = lst.members.get(h)
        if m is not None:
            m.tags = tuple(t for t in m.tags if t != seg.id)
    lst.segments.pop(seg.id, None)
    if lst.seg_by_name.get(seg.name.lower()) is seg:
        del lst.seg_by_name[seg.name.lower()]
    lst.version += 1


