"""Member writes: POST / PUT / PATCH / DELETE / delete-permanent / tags."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import events
from .clock import iso, parse_time
from .emails import email_problem, subscriber_hash
from .errors import (
    DETAIL_ARCHIVE_405,
    MAX_TAG_NAME,
    PATCH_STATUSES,
    STATUSES,
    UNSUB_ADMIN,
    ApiError,
    detail_forgotten,
    detail_member_exists,
    enum_error,
    invalid_field,
    not_found,
    required_missing,
    schema_type_error,
)
from .merge_fields import MergeError, merge_values
from .model import AudienceList, EmulatorState, Member
from .rendering import _EMPTY_LOCATION
from .rules import apply_status, check_status_change, status_events

# --------------------------------------------------------------------------------------------
# Member writes (POST / PUT / PATCH / DELETE / delete-permanent / batch subscribe / tags)
# --------------------------------------------------------------------------------------------

_MEMBER_STR_FIELDS = ("email_address", "language", "ip_signup", "ip_opt")
_MEMBER_TIME_FIELDS = ("timestamp_signup", "timestamp_opt")


def check_member_schema(
    body: Any, prefix: str, statuses: tuple[str, ...], status_keys: tuple[str, ...]
) -> None:
    """Schema-level checks of a member document (wrong JSON types, enum values)."""
    if not isinstance(body, dict):
        raise schema_type_error(prefix.rstrip(".") or "", "object", body)
    for key in _MEMBER_STR_FIELDS + _MEMBER_TIME_FIELDS:
        if key in body and not isinstance(body[key], str):
            raise schema_type_error(prefix + key, "string", body[key])
    for key in status_keys:
        if key in body and body[key] not in statuses:
            raise enum_error(prefix + key, statuses)
    if "email_type" in body and body["email_type"] not in ("html", "text"):
        raise enum_error(prefix + "email_type", ("html", "text"))
    if "vip" in body and not isinstance(body["vip"], bool):
        raise schema_type_error(prefix + "vip", "boolean", body["vip"])
    if "location" in body and not isinstance(body["location"], dict):
        raise schema_type_error(prefix + "location", "object", body["location"])
    if "interests" in body:
        interests = body["interests"]
        if not isinstance(interests, dict):
            raise schema_type_error(prefix + "interests", "object", interests)
        if interests:
            raise ApiError(
                400, "Invalid Resource", f"Invalid interest ID: '{next(iter(interests))}'."
            )
    if "tags" in body:
        tags = body["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise schema_type_error(prefix + "tags", "array of strings", tags)
        for t in tags:
            check_tag_name(t, prefix + "tags")


def check_tag_name(name: Any, field: str) -> None:
    """Tag names: non-empty strings of at most 100 characters."""
    if not isinstance(name, str) or not name.strip():
        raise invalid_field(field, "Tag names must be non-empty strings")
    if len(name) > MAX_TAG_NAME:
        raise invalid_field(field, f"Tag names must be {MAX_TAG_NAME} characters or fewer")


def _apply_extras(m: Member, body: dict[str, Any]) -> bool:
    """Copy optional member fields from a request; returns whether anything changed."""
    changed = False
    for key, default in (
        ("email_type", "html"),
        ("language", ""),
        ("vip", False),
        ("ip_signup", ""),
        ("ip_opt", ""),
    ):
        if key in body:
            value = body[key]
            if m.get_extra(key, default) != value:
                m.set_extra(key, None if value == default else value)
                changed = True
    for key in _MEMBER_TIME_FIELDS:
        if body.get(key):
            value = iso(int(parse_time(body[key], key)))
            if m.get_extra(key) != value:
                m.set_extra(key, value)
                changed = True
    if "location" in body:
        loc = body["location"]
        lat, lon = loc.get("latitude", 0), loc.get("longitude", 0)
        value = {**_EMPTY_LOCATION, "latitude": lat, "longitude": lon} if (lat or lon) else None
        if m.get_extra("location", None) != value:
            m.set_extra("location", value)
            changed = True
    return changed


def _email_error(email: str) -> ApiError | None:
    problem = email_problem(email)
    return ApiError(400, "Invalid Resource", problem) if problem else None


def _member_exists(email: str) -> ApiError:
    return ApiError(400, "Member Exists", detail_member_exists(email), with_type=False)


def _forgotten(email: str) -> ApiError:
    return ApiError(400, "Forgotten Email Not Subscribed", detail_forgotten(email), with_type=False)


def _cleaned_email_change() -> ApiError:
    return ApiError(
        400,
        "Invalid Resource",
        'This member\'s status is "cleaned." You can only update email addresses for members '
        'with a status of "subscribed."',
    )


def fresh_member(h: str, email: str, status: str, mf: tuple, now: int) -> Member:
    """A member added through the API (or bulk load) with ``status``: added as unsubscribed
    counts as an admin unsubscribe, added as cleaned is in compliance state."""
    m = Member(h, email, status, mf, now)
    if status == "unsubscribed":
        m.set_extra("unsubscribe_reason", UNSUB_ADMIN)
    elif status == "cleaned":
        m.compliance = "cleaned"
    return m


def new_member(
    lst: AudienceList, h: str, email: str, status: str, mf: tuple, body: dict[str, Any], now: int
) -> Member:
    """Create a member through the API (queues its webhook event / confirmation email)."""
    m = fresh_member(h, email, status, mf, now)
    _apply_extras(m, body)
    lst.insert(m)
    status_events(lst, m, now)
    return m


def apply_tag_names(
    state: EmulatorState,
    lst: AudienceList,
    m: Member,
    names: Iterable[str],
    now: int,
    replace: bool,
) -> None:
    """Add the named tags (creating them); ``replace`` also removes the member's other tags."""
    wanted = []
    for name in names:
        seg = lst.tag_segment(name.strip(), now, state.next_segment_id)
        lst.add_tag(m, seg, now)
        wanted.append(seg.id)
    if replace:
        keep = set(wanted)
        for sid in [t for t in m.tags if t not in keep]:
            seg = lst.segments.get(sid)
            if seg is not None and seg.type == "static":
                lst.remove_tag(m, seg, now)


def add_member(
    state: EmulatorState, lst: AudienceList, body: Any, skip_merge: bool, now: int
) -> Member:
    """``POST /lists/{id}/members``."""
    check_member_schema(body, "", STATUSES, ("status",))
    missing = [k for k in ("email_address", "status") if not body.get(k)]
    if missing:
        raise required_missing("", missing)
    email = body["email_address"]
    err = _email_error(email)
    if err:
        raise err
    h = subscriber_hash(email)
    if h in lst.forgotten:
        raise _forgotten(email)
    if h in lst.members:
        raise _member_exists(email)
    try:
        mf = merge_values(lst, body.get("merge_fields"), None, skip_merge)
    except MergeError as exc:
        raise exc.api_error() from None
    m = new_member(lst, h, email, body["status"], mf, body, now)
    if body.get("tags"):
        apply_tag_names(state, lst, m, body["tags"], now, replace=False)
    return m


def prepare_email_change(lst: AudienceList, m: Member, email: str) -> str | None:
    """Validate moving ``m`` to ``email``; returns the new hash, or ``None`` if unchanged."""
    if email == m.email:
        return None
    err = _email_error(email)
    if err:
        raise err
    new_h = subscriber_hash(email)
    if new_h == m.h:
        return m.h  # only the letter case changes
    if new_h in lst.members:
        raise _member_exists(email)
    if new_h in lst.forgotten:
        raise _forgotten(email)
    if m.status == "cleaned":
        raise _cleaned_email_change()
    return new_h


def update_member(
    lst: AudienceList,
    m: Member,
    body: dict[str, Any],
    target: str | None,
    skip_merge: bool,
    now: int,
) -> None:
    """Validate everything first, then mutate (an error leaves the member untouched)."""
    new_h = None
    email = body.get("email_address")
    if email:
        new_h = prepare_email_change(lst, m, email)
    if target:
        check_status_change(m, target, email)
    try:
        mf = merge_values(lst, body.get("merge_fields"), m.mf, skip_merge)
    except MergeError as exc:
        raise exc.api_error() from None
    changed = False
    if new_h is not None:
        old_email = m.email
        if new_h == m.h:
            m.email = email
            changed = True
        else:
            lst.rekey(m, email, new_h, now)
        events.upemail(lst, old_email, m, now)
    if mf != m.mf:
        m.mf = mf
        changed = True
        events.profile(lst, m, now)
    changed = _apply_extras(m, body) or changed
    if target:
        changed = apply_status(lst, m, target, now) or changed
    if changed:
        lst.touch(m, now)


def upsert_member(
    state: EmulatorState, lst: AudienceList, path_h: str, body: Any, skip_merge: bool, now: int
) -> Member:
    """``PUT /lists/{id}/members/{hash}``: ``status_if_new`` for new members, ``status`` changes
    an existing member's status (subject to the compliance rule)."""
    check_member_schema(body, "", STATUSES, ("status", "status_if_new"))
    email = body.get("email_address")
    if not email:
        raise required_missing("", ["email_address"])
    err = _email_error(email)
    if err:
        raise err
    eh = subscriber_hash(email)
    m = lst.members.get(path_h)
    if m is None:
        if eh != path_h:
            if eh in lst.members:
                raise _member_exists(email)
            raise invalid_field(
                "email_address",
                "The subscriber hash in the URL does not match the email address provided.",
            )
        if eh in lst.forgotten:
            raise _forgotten(email)
        status = body.get("status") or body.get("status_if_new")
        if not status:
            raise required_missing("", ["status_if_new"])
        try:
            mf = merge_values(lst, body.get("merge_fields"), None, skip_merge)
        except MergeError as exc:
            raise exc.api_error() from None
        return new_member(lst, eh, email, status, mf, body, now)
    target = body.get("status")
    if m.status == "archived" and not target:
        target = body.get("status_if_new")
        if not target:
            raise required_missing("", ["status_if_new"])
    update_member(lst, m, body, target, skip_merge, now)
    return m


def patch_member(
    state: EmulatorState, lst: AudienceList, path_h: str, body: Any, skip_merge: bool, now: int
) -> Member:
    """``PATCH /lists/{id}/members/{hash}``."""
    m = lst.members.get(path_h)
    if m is None:
        raise not_found()
    check_member_schema(body, "", PATCH_STATUSES, ("status",))
    update_member(lst, m, body, body.get("status"), skip_merge, now)
    return m


def archive_member(lst: AudienceList, path_h: str, now: int) -> None:
    """``DELETE /lists/{id}/members/{hash}``: archive (405 for archived/pending/cleaned)."""
    m = lst.members.get(path_h)
    if m is None:
        raise not_found()
    if m.status in ("archived", "pending", "cleaned"):
        raise ApiError(405, "Method Not Allowed", DETAIL_ARCHIVE_405, headers={"Allow": "GET, PUT"})
    lst.set_status(m, "archived", now)
    lst.touch(m, now)
    status_events(lst, m, now)


def delete_permanent(lst: AudienceList, path_h: str) -> None:
    """``POST .../actions/delete-permanent``: gone for good; re-adding is refused."""
    m = lst.members.get(path_h)
    if m is None:
        raise not_found()
    lst.remove(m)
    lst.forgotten.add(path_h)


def update_member_tags(
    state: EmulatorState, lst: AudienceList, path_h: str, body: Any, now: int
) -> None:
    """``POST .../members/{hash}/tags``: ``active`` adds (creating the tag), ``inactive`` removes."""
    m = lst.members.get(path_h)
    if m is None:
        raise not_found()
    if not isinstance(body, dict) or "tags" not in body:
        raise required_missing("", ["tags"])
    tags = body["tags"]
    if not isinstance(tags, list):
        raise schema_type_error("tags", "array", tags)
    for i, t in enumerate(tags):
        if not isinstance(t, dict) or "name" not in t or "status" not in t:
            raise required_missing(f"tags.item:{i}", ["name", "status"])
        check_tag_name(t["name"], f"tags.item:{i}.name")
        if t["status"] not in ("active", "inactive"):
            raise enum_error(f"tags.item:{i}.status", ("active", "inactive"))
    for t in tags:
        name = t["name"].strip()
        if t["status"] == "active":
            lst.add_tag(m, lst.tag_segment(name, now, state.next_segment_id), now)
        else:
            seg = lst.seg_by_name.get(name.lower())
            if seg is not None:
                lst.remove_tag(m, seg, now)


