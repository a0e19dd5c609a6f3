"""``/lists/{id}/members`` and a member's tags; ``tag-search``."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from ..clock import iso
from ..errors import ALL_STATUSES, enum_error
from ..members import (
    add_member,
    archive_member,
    delete_permanent,
    patch_member,
    update_member_tags,
    upsert_member,
)
from ..model import Member
from ..rendering import members_json, render_member
from .base import (
    Call,
    RawJSON,
    Result,
    flag,
    get_list,
    get_member,
    is_shaped,
    member_hash,
    page,
    time_param,
)

_SORT_KEYS: dict[str, Callable[[Member], Any]] = {
    "timestamp_opt": lambda m: m.opt,
    "timestamp_signup": lambda m: m.get_extra("timestamp_signup"),
    "last_changed": lambda m: m.changed,
}


def shuffle_same_second(members: list[Member], rng: random.Random) -> list[Member]:
    """A copy where each run of members with the same ``last_changed`` second is shuffled (the
    ``shuffle_same_second`` fault: Mailchimp gives no order among equal sort keys)."""
    out: list[Member] = []
    run: list[Member] = []
    for m in members:
        if run and run[0].changed != m.changed:
            rng.shuffle(run)
            out.extend(run)
            run = []
        run.append(m)
    rng.shuffle(run)
    out.extend(run)
    return out


def h_members_get(call: Call) -> Result:
    lst = get_list(call)
    q = call.query
    count, offset = page(q)
    status = q.get("status") or None
    if status is not None and status not in ALL_STATUSES:
        raise enum_error("status", ALL_STATUSES)
    since_lc = time_param(q, "since_last_changed")
    before_lc = time_param(q, "before_last_changed")
    since_opt = time_param(q, "since_timestamp_opt")
    before_opt = time_param(q, "before_timestamp_opt")
    email_type = q.get("email_type") or None
    vip_only = flag(q, "vip_only")
    unique_email_id = q.get("unique_email_id") or None
    sort_field = q.get("sort_field") or None
    if sort_field is not None and sort_field not in _SORT_KEYS:
        raise enum_error("sort_field", tuple(_SORT_KEYS))
    sort_dir = (q.get("sort_dir") or "ASC").upper()
    if sort_dir not in ("ASC", "DESC"):
        raise enum_error("sort_dir", ("ASC", "DESC"))
    key = (
        status,
        since_lc,
        before_lc,
        since_opt,
        before_opt,
        email_type,
        vip_only,
        unique_email_id,
        sort_field,
        sort_dir,
    )

    def build() -> list[Member]:
        by_log = sort_field == "last_changed" or since_lc is not None or before_lc is not None
        base = lst.changed_between(since_lc, before_lc) if by_log else list(lst.members.values())
        if status is None:
            out = [m for m in base if m.status != "archived"]
        else:
            out = [m for m in base if m.status == status]
        if since_opt is not None:
            out = [m for m in out if m.opt and m.opt >= int(since_opt)]
        if before_opt is not None:
            out = [m for m in out if m.opt and m.opt < before_opt]
        if email_type:
            out = [m for m in out if m.get_extra("email_type", "html") == email_type]
        if vip_only:
            out = [m for m in out if m.get_extra("vip", False)]
        if unique_email_id:
            out = [m for m in out if m.h[7:17] == unique_email_id]
        if sort_field in ("timestamp_opt", "timestamp_signup"):
            out.sort(key=_SORT_KEYS[sort_field])
        if sort_dir == "DESC":
            out.reverse()
        return out

    result = lst.query(key, build)
    rng = call.emu.faults.order_shuffler(call.acct.key)
    if rng is not None:
        result = shuffle_same_second(result, rng)
    page_members = result[offset : offset + count]
    if not is_shaped(call):
        members = members_json(lst, page_members)
        return 200, RawJSON(
            f'{{"members":{members},"list_id":"{lst.id}","total_items":{len(result)},"_links":[]}}'
        )
    return 200, {
        "members": [render_member(lst, m) for m in page_members],
        "list_id": lst.id,
        "total_items": len(result),
        "_links": [],
    }


def h_member_add(call: Call) -> Result:
    lst = get_list(call)
    m = add_member(
        call.emu.state, lst, call.body, flag(call.query, "skip_merge_validation"), call.now
    )
    return 200, render_member(lst, m)


def h_member_get(call: Call) -> Result:
    lst = get_list(call)
    return 200, render_member(lst, get_member(call, lst))


def _write_member(call: Call, write: Callable[..., Any]) -> Result:
    """PUT and PATCH: the same arguments, one write rule each (`upsert_member`, `patch_member`)."""
    lst = get_list(call)
    m = write(call.emu.state, lst, member_hash(call), call.body,
              flag(call.query, "skip_merge_validation"), call.now)
    return 200, render_member(lst, m)


def h_member_put(call: Call) -> Result:
    return _write_member(call, upsert_member)


def h_member_patch(call: Call) -> Result:
    return _write_member(call, patch_member)


def h_member_delete(call: Call) -> Result:
    archive_member(get_list(call), member_hash(call), call.now)
    return 204, None


def h_member_delete_permanent(call: Call) -> Result:
    delete_permanent(get_list(call), member_hash(call))
    return 204, None


def h_member_tags_get(call: Call) -> Result:
    lst = get_list(call)
    m = get_member(call, lst)
    count, offset = page(call.query)
    tags = []
    for sid in m.tags:
        seg = lst.segments.get(sid)
        if seg is not None:
            tags.append(
                {
                    "id": seg.id,
                    "name": seg.name,
                    "date_added": iso(seg.members.get(m.h, seg.created)),
                }
            )
    return 200, {"tags": tags[offset : offset + count], "total_items": len(tags), "_links": []}


def h_member_tags_post(call: Call) -> Result:
    update_member_tags(call.emu.state, get_list(call), member_hash(call), call.body, call.now)
    return 204, None


def h_tag_search(call: Call) -> Result:
    lst = get_list(call)
    needle = (call.query.get("name") or "").lower()
    tags = [
        {"id": seg.id, "name": seg.name}
        for seg in lst.segments.values()
        if seg.type == "static" and needle in seg.name.lower()
    ]
    return 200, {"tags": tags, "total_items": len(tags)}


