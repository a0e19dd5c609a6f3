"""``/lists/{id}/segments`` and segment members."""

from __future__ import annotations

from ..emails import subscriber_hash
from ..errors import ApiError, enum_error, not_found, required_missing, schema_type_error
from ..members import check_tag_name
from ..rendering import HIDDEN_BY_DEFAULT, render_member, render_segment, segment_visible
from ..segments import ERROR_NOT_ON_LIST, batch_segment, create_segment, delete_segment
from .base import (
    Call,
    RawJSON,
    Result,
    body_dict,
    get_list,
    get_segment,
    hidden_statuses,
    is_shaped,
    member_hash,
    page,
)


def h_segments_get(call: Call) -> Result:
    lst = get_list(call)
    q = call.query
    count, offset = page(q)
    seg_type = q.get("type") or None
    if seg_type is not None and seg_type not in ("saved", "static", "fuzzy"):
        raise enum_error("type", ("saved", "static", "fuzzy"))
    segs = [s for s in lst.segments.values() if seg_type is None or s.type == seg_type]
    hidden = hidden_statuses(q)
    return 200, {
        "segments": [render_segment(lst, s, hidden) for s in segs[offset : offset + count]],
        "list_id": lst.id,
        "total_items": len(segs),
        "_links": [],
    }


def h_segments_post(call: Call) -> Result:
    lst = get_list(call)
    seg = create_segment(call.emu.state, lst, call.body, call.now)
    return 200, render_segment(lst, seg, HIDDEN_BY_DEFAULT)


def h_segment_get(call: Call) -> Result:
    lst = get_list(call)
    return 200, render_segment(lst, get_segment(call, lst), hidden_statuses(call.query))


def h_segment_batch(call: Call) -> Result:
    lst = get_list(call)
    seg = get_segment(call, lst)
    result = batch_segment(lst, seg, call.body, call.now)
    return 200, (result.render(lst) if is_shaped(call) else RawJSON(result.json(lst)))


def h_segment_patch(call: Call) -> Result:
    lst = get_list(call)
    seg = get_segment(call, lst)
    body = body_dict(call)
    if "name" in body:
        check_tag_name(body["name"], "name")
        new = body["name"].strip()
        other = lst.seg_by_name.get(new.lower())
        if other is not None and other is not seg:
            raise ApiError(
                400, "Invalid Resource", f"A tag or segment named '{new}' already exists."
            )
        if lst.seg_by_name.get(seg.name.lower()) is seg:
            del lst.seg_by_name[seg.name.lower()]
        seg.name = new
        if seg.type == "static":
            lst.seg_by_name[new.lower()] = seg
    if "static_segment" in body and seg.type == "static":
        emails = body["static_segment"]
        if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
            raise schema_type_error("static_segment", "array of strings", emails)
        wanted = {subscriber_hash(e) for e in emails}
        for h in [h for h in seg.members if h not in wanted]:
            lst.remove_tag(lst.members[h], seg, call.now)
        for h in wanted:
            m = lst.members.get(h)
            if m is not None:
                lst.add_tag(m, seg, call.now)
    if "options" in body and seg.type != "static":
        seg.options = body["options"]
    seg.updated = call.now
    lst.version += 1
    return 200, render_segment(lst, seg, HIDDEN_BY_DEFAULT)


def h_segment_delete(call: Call) -> Result:
    lst = get_list(call)
    delete_segment(lst, get_segment(call, lst))
    return 204, None


def h_segment_members_get(call: Call) -> Result:
    lst = get_list(call)
    seg = get_segment(call, lst)
    count, offset = page(call.query)
    hashes = segment_visible(lst, seg, hidden_statuses(call.query))
    return 200, {
        "members": [render_member(lst, lst.members[h]) for h in hashes[offset : offset + count]],
        "total_items": len(hashes),
        "_links": [],
    }


def h_segment_member_add(call: Call) -> Result:
    lst = get_list(call)
    seg = get_segment(call, lst)
    body = body_dict(call)
    email = body.get("email_address")
    if not isinstance(email, str) or not email:
        raise required_missing("", ["email_address"])
    m = lst.members.get(subscriber_hash(email))
    if m is None:
        raise ApiError(400, "Invalid Resource", f"{email}: {ERROR_NOT_ON_LIST}.")
    if seg.type != "static":
        raise ApiError(
            400, "Invalid Resource", "Members can only be added to static segments (tags)."
        )
    lst.add_tag(m, seg, call.now)
    return 200, render_member(lst, m)


def h_segment_member_delete(call: Call) -> Result:
    lst = get_list(call)
    seg = get_segment(call, lst)
    m = lst.members.get(member_hash(call))
    if m is None or not lst.remove_tag(m, seg, call.now):
        raise not_found()
    return 204, None


