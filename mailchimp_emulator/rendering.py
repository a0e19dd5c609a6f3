"""JSON shapes of members, audiences and segments (plus the fast member-list writer)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from json.encoder import encode_basestring as _q
from typing import Any

from .clock import iso, iso_or_empty
from .merge_fields import merge_dict
from .model import AudienceList, Member, Segment

# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------

_EMPTY_LOCATION = {
    "latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0, "country_code": "", "timezone": "",
    "region": "",
}  # fmt: skip
_STATS = {"avg_open_rate": 0, "avg_click_rate": 0}


def render_member(lst: AudienceList, m: Member) -> dict[str, Any]:
    """The member object (Mailchimp's shape, without per-member ``_links``)."""
    h = m.h
    mf = merge_dict(lst, m.mf)
    segs = lst.segments
    tags = [{"id": sid, "name": segs[sid].name} for sid in m.tags if sid in segs]
    extra = m.extra or {}
    fname = mf.get("FNAME", "")
    lname = mf.get("LNAME", "")
    out = {
        "id": h,
        "email_address": m.email,
        "unique_email_id": h[7:17],
        "contact_id": m.origin[::-1],
        "full_name": f"{fname} {lname}".strip()
        if isinstance(fname, str) and isinstance(lname, str)
        else "",
        "web_id": int(m.origin[:7], 16),
        "email_type": extra.get("email_type", "html"),
        "status": m.status,
        "consents_to_one_to_one_messaging": True,
        "merge_fields": mf,
        "stats": _STATS,
        "ip_signup": extra.get("ip_signup", ""),
        "timestamp_signup": extra.get("timestamp_signup", ""),
        "ip_opt": extra.get("ip_opt", ""),
        "timestamp_opt": extra.get("timestamp_opt") or iso_or_empty(m.opt),
        "member_rating": 2,
        "last_changed": iso(m.changed),
        "language": extra.get("language", ""),
        "vip": extra.get("vip", False),
        "email_client": "",
        "location": extra.get("location") or _EMPTY_LOCATION,
        "source": extra.get("source", "API - Generic"),
        "tags_count": len(tags),
        "tags": tags,
        "list_id": lst.id,
    }
    if m.status == "unsubscribed" or "unsubscribe_reason" in extra:
        out["unsubscribe_reason"] = extra.get("unsubscribe_reason", "")
    return out


#: Member keys computed from the member alone, as `render_member` computes them: an answer that
#: asks only for these (`fields=new_members.email_address,...`, as a sync's batch subscribe
#: does) is rendered without building the rest of each member object.
_SIMPLE_KEYS = {
    "id": lambda lst, m: m.h,
    "email_address": lambda lst, m: m.email,
    "unique_email_id": lambda lst, m: m.h[7:17],
    "contact_id": lambda lst, m: m.origin[::-1],
    "status": lambda lst, m: m.status,
    "last_changed": lambda lst, m: iso(m.changed),
    "list_id": lambda lst, m: lst.id,
}


def render_member_keys(lst: AudienceList, m: Member, keys: Collection[str] | None) -> dict[str, Any]:
    """`render_member`, or only `keys` of it when every one of them is a simple key (None: all)."""
    if keys is not None and all(k in _SIMPLE_KEYS for k in keys):
        return {k: _SIMPLE_KEYS[k](lst, m) for k in keys}
    return render_member(lst, m)


def _jv(value: Any) -> str:
    """JSON text of a merge value (str, int, float or an address object)."""
    t = type(value)
    if t is str:
        return _q(value)
    if t is int or t is float:
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_LOCATION_JSON = json.dumps(_EMPTY_LOCATION, separators=(",", ":"))
_MEMBER_FMT = (
    '{"id":"%s","email_address":%s,"unique_email_id":"%s","contact_id":"%s","full_name":%s,'
    '"web_id":%d,"email_type":%s,"status":"%s","consents_to_one_to_one_messaging":true,'
    '"merge_fields":{%s},"stats":{"avg_open_rate":0,"avg_click_rate":0},"ip_signup":%s,'
    '"timestamp_signup":%s,"ip_opt":%s,"timestamp_opt":%s,"member_rating":2,"last_changed":"%s",'
    '"language":%s,"vip":%s,"email_client":"","location":%s,"source":%s,"tags_count":%d,'
    '"tags":[%s],"list_id":"%s"%s}'
)


def member_json(lst: AudienceList, m: Member) -> str:
    """The same document as :func:`render_member`, serialized directly (the hot path of member
    lists and bulk responses: several times faster than building and dumping dicts)."""
    h = m.h
    mf = m.mf
    n = len(mf)
    merge = ",".join([k + (_jv(mf[i]) if i < n else '""') for i, k in enumerate(lst.mf_keys_json)])
    fi = lst.mf_index.get("FNAME", n)
    li = lst.mf_index.get("LNAME", n)
    fname = mf[fi] if fi < n else ""
    lname = mf[li] if li < n else ""
    full = f"{fname} {lname}".strip() if type(fname) is str and type(lname) is str else ""
    segs = lst.segments
    tags = [(sid, segs[sid].name) for sid in m.tags if sid in segs]
    tags_json = ",".join([f'{{"id":{sid},"name":{_q(name)}}}' for sid, name in tags])
    extra = m.extra
    if extra:
        email_type = _q(extra.get("email_type", "html"))
        ip_signup = _q(extra.get("ip_signup", ""))
        ts_signup = _q(extra.get("timestamp_signup", ""))
        ip_opt = _q(extra.get("ip_opt", ""))
        ts_opt = _q(extra.get("timestamp_opt") or iso_or_empty(m.opt))
        language = _q(extra.get("language", ""))
        vip = "true" if extra.get("vip", False) else "false"
        loc = extra.get("location")
        location = json.dumps(loc, separators=(",", ":")) if loc else _LOCATION_JSON
        source = _q(extra.get("source", "API - Generic"))
        has_reason = "unsubscribe_reason" in extra
    else:
        email_type, ip_signup, ts_signup, ip_opt = '"html"', '""', '""', '""'
        ts_opt = '"' + iso(m.opt) + '"' if m.opt else '""'
        language, vip, location, source = '""', "false", _LOCATION_JSON, '"API - Generic"'
        has_reason = False
    reason = ""
    if m.status == "unsubscribed" or has_reason:
        reason = ',"unsubscribe_reason":' + _q(m.get_extra("unsubscribe_reason"))
    origin = m.origin
    return _MEMBER_FMT % (
        h, _q(m.email), h[7:17], origin[::-1], _q(full), int(origin[:7], 16), email_type, m.status, merge,
        ip_signup, ts_signup, ip_opt, ts_opt, iso(m.changed), language, vip, location, source,
        len(tags), tags_json, lst.id, reason,
    )  # fmt: skip


def members_json(lst: AudienceList, members: Iterable[Member]) -> str:
    """A JSON array of member documents."""
    return "[" + ",".join([member_json(lst, m) for m in members]) + "]"


def render_list(lst: AudienceList) -> dict[str, Any]:
    """The audience object (SubscriberList)."""
    s = lst.settings
    counts = lst.counts
    total = sum(counts.values())
    return {
        "id": lst.id,
        "web_id": lst.web_id,
        "name": s["name"],
        "contact": s["contact"],
        "permission_reminder": s["permission_reminder"],
        "use_archive_bar": s.get("use_archive_bar", True),
        "campaign_defaults": s["campaign_defaults"],
        "notify_on_subscribe": s.get("notify_on_subscribe", ""),
        "notify_on_unsubscribe": s.get("notify_on_unsubscribe", ""),
        "date_created": iso(lst.created),
        "list_rating": 0,
        "email_type_option": s["email_type_option"],
        "subscribe_url_short": f"http://eepurl.com/{lst.id[:6]}",
        "subscribe_url_long": f"https://emulator.list-manage.com/subscribe?u=0&id={lst.id}",
        "beamer_address": f"emulator-{lst.id}@inbound.mailchimp.com",
        "visibility": s.get("visibility", "prv"),
        "double_optin": s.get("double_optin", False),
        "has_welcome": s.get("has_welcome", False),
        "marketing_permissions": s.get("marketing_permissions", False),
        "modules": [],
        "stats": {
            "member_count": counts["subscribed"],
            "total_contacts": total,
            "unsubscribe_count": counts["unsubscribed"],
            "cleaned_count": counts["cleaned"],
            "member_count_since_send": counts["subscribed"],
            "unsubscribe_count_since_send": counts["unsubscribed"],
            "cleaned_count_since_send": counts["cleaned"],
            "campaign_count": 0,
            "campaign_last_sent": "",
            "merge_field_count": len(lst.merge_fields),
            "avg_sub_rate": 0,
            "avg_unsub_rate": 0,
            "target_sub_rate": 0,
            "open_rate": 0,
            "click_rate": 0,
            "last_sub_date": iso_or_empty(lst.last_sub),
            "last_unsub_date": iso_or_empty(lst.last_unsub),
        },
        "_links": [],
    }


HIDDEN_BY_DEFAULT = frozenset({"unsubscribed", "cleaned", "transactional", "archived"})


def segment_visible(lst: AudienceList, seg: Segment, hidden: frozenset[str]) -> list[str]:
    """Hashes of the segment's members whose status is not hidden (insertion order)."""
    members = lst.members
    out = []
    for h in seg.members:
        m = members.get(h)
        if m is not None and m.status not in hidden:
            out.append(h)
    return out


def render_segment(lst: AudienceList, seg: Segment, hidden: frozenset[str]) -> dict[str, Any]:
    """The segment object; ``member_count`` excludes the hidden statuses."""
    options = seg.options if seg.type != "static" else {"match": "any", "conditions": []}
    return {
        "id": seg.id,
        "name": seg.name,
        "member_count": len(segment_visible(lst, seg, hidden)),
        "type": seg.type,
        "created_at": iso(seg.created),
        "updated_at": iso(seg.updated),
        "options": options,
        "list_id": lst.id,
        "_links": [],
    }


