"""The emulator's ASGI application: Mailchimp API routes under ``/{dc}/3.0`` and the admin
routes under ``/_emulator/`` (not part of Mailchimp).

The API side is a small raw-ASGI dispatcher (so that a dropped connection really is a closed
socket, and request accounting sees every request); the admin side is a Starlette app.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gc
import io
import json
import logging
import re
import secrets
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import state as st
from .faults import Faults, FaultSettings, Stats
from .state import Account, ApiError, AudienceList, EmulatorState

log = logging.getLogger(__name__)
JSON_CT = b"application/json; charset=utf-8"
PROBLEM_CT = b"application/problem+json; charset=utf-8"
_API_PATH = re.compile(r"^/([^/]+)/3\.0(/.*)?$")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(slots=True)
class Call:
    """One API call as a handler sees it."""

    emu: Emulator
    acct: Account
    method: str
    params: dict[str, str]
    query: Mapping[str, str]
    body: Any
    base_url: str
    now: int


class RawJSON:
    """A payload already serialized (the fast path for member lists)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


Result = tuple[int, Any]  # (status, payload: JSON-able, RawJSON, or None for 204)
Handler = Callable[[Call], Result]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _int_param(q: Mapping[str, str], key: str, default: int) -> int:
    raw = q.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise st.invalid_field(key, f"{key} must be an integer") from None
    if value < 0:
        raise st.invalid_field(key, f"{key} must be zero or greater")
    return value


def page(q: Mapping[str, str]) -> tuple[int, int]:
    """``count`` (default 10, at most 1000) and ``offset``."""
    count = _int_param(q, "count", 10)
    if count > st.MAX_COUNT:
        raise st.invalid_field("count", f"count must be less than or equal to {st.MAX_COUNT}")
    return count, _int_param(q, "offset", 0)


def flag(q: Mapping[str, str], key: str) -> bool:
    """Boolean query parameter (``true``/``True``/``1``)."""
    return q.get(key, "").lower() in ("true", "1", "yes")


def _time_param(q: Mapping[str, str], key: str) -> float | None:
    raw = q.get(key)
    return st.parse_time(raw, key) if raw else None


def _field_tree(spec: str) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in spec.split(","):
        node = tree
        for part in path.strip().split("."):
            if part:
                node = node.setdefault(part, {})
    return tree


def _keep(obj: Any, tree: dict[str, Any]) -> Any:
    if isinstance(obj, list):
        return [_keep(x, tree) for x in obj]
    if not isinstance(obj, dict):
        return obj
    return {k: (_keep(obj[k], sub) if sub else obj[k]) for k, sub in tree.items() if k in obj}


def _exclude(obj: Any, tree: dict[str, Any]) -> Any:
    if isinstance(obj, list):
        return [_exclude(x, tree) for x in obj]
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    for k, sub in tree.items():
        if k in out:
            if sub:
                out[k] = _exclude(out[k], sub)
            else:
                del out[k]
    return out


def shape(payload: Any, q: Mapping[str, str]) -> Any:
    """Apply ``fields`` / ``exclude_fields`` (comma-separated, dot notation)."""
    if payload is None:
        return None
    if q.get("fields"):
        payload = _keep(payload, _field_tree(q["fields"]))
    if q.get("exclude_fields"):
        payload = _exclude(payload, _field_tree(q["exclude_fields"]))
    return payload


def _get_list(call: Call) -> AudienceList:
    lst = call.acct.lists.get(call.params["list_id"])
    if lst is None:
        raise st.not_found()
    return lst


def _member_hash(call: Call) -> str:
    h = st.hash_from_path(call.params["subscriber_hash"])
    if h is None:
        raise st.not_found()
    return h


def _get_member(call: Call, lst: AudienceList) -> st.Member:
    m = lst.members.get(_member_hash(call))
    if m is None:
        raise st.not_found()
    return m


def _get_segment(call: Call, lst: AudienceList) -> st.Segment:
    try:
        seg = lst.segments.get(int(call.params["segment_id"]))
    except ValueError:
        seg = None
    if seg is None:
        raise st.not_found()
    return seg


def _body_dict(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise st.schema_type_error("", "object", call.body)
    return call.body


def _hidden(q: Mapping[str, str]) -> frozenset[str]:
    hidden = set(st.HIDDEN_BY_DEFAULT)
    for status, key in (
        ("cleaned", "include_cleaned"),
        ("transactional", "include_transactional"),
        ("unsubscribed", "include_unsubscribed"),
    ):
        if flag(q, key):
            hidden.discard(status)
    return frozenset(hidden)


# --------------------------------------------------------------------------------------------
# API handlers
# --------------------------------------------------------------------------------------------


def h_root(call: Call) -> Result:
    acct = call.acct
    total = sum(sum(lst.counts.values()) for lst in acct.lists.values())
    return 200, {
        "account_id": acct.account_id,
        "login_id": str(acct.user_id),
        "account_name": acct.name,
        "email": "owner@emulator.invalid",
        "first_name": "Emulator",
        "last_name": "Owner",
        "username": acct.name.lower().replace(" ", ""),
        "avatar_url": "",
        "role": "owner",
        "member_since": st.iso(acct.created),
        "pricing_plan_type": "monthly",
        "first_payment": "",
        "account_timezone": "UTC",
        "account_industry": "",
        "contact": {
            "company": acct.name,
            "addr1": "",
            "addr2": "",
            "city": "",
            "state": "",
            "zip": "",
            "country": "US",
        },
        "pro_enabled": False,
        "last_login": st.iso(call.now),
        "total_subscribers": total,
        "industry_stats": {"open_rate": 0, "bounce_rate": 0, "click_rate": 0},
        "_links": [],
    }


def h_ping(call: Call) -> Result:
    return 200, {"health_status": "Everything's Chimpy!"}


_LIST_REQUIRED = (
    "name",
    "contact",
    "permission_reminder",
    "campaign_defaults",
    "email_type_option",
)
_CONTACT_REQUIRED = ("company", "address1", "city", "state", "zip", "country")
_DEFAULTS_REQUIRED = ("from_name", "from_email", "subject", "language")


def _validate_list_settings(body: dict[str, Any], partial: bool) -> None:
    if not partial:
        missing = [k for k in _LIST_REQUIRED if k not in body]
        if missing:
            raise st.required_missing("", missing)
    for key, required in (
        ("contact", _CONTACT_REQUIRED),
        ("campaign_defaults", _DEFAULTS_REQUIRED),
    ):
        if key in body:
            value = body[key]
            if not isinstance(value, dict):
                raise st.schema_type_error(key, "object", value)
            missing = [k for k in required if k not in value]
            if missing:
                raise st.required_missing(key, missing)
    if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
        raise st.invalid_field("name", "Please enter a name for this audience")
    if "email_type_option" in body and not isinstance(body["email_type_option"], bool):
        raise st.schema_type_error("email_type_option", "boolean", body["email_type_option"])
    if "campaign_defaults" in body:
        from_email = body["campaign_defaults"]["from_email"]
        if not isinstance(from_email, str) or st.email_problem(from_email) == st.DETAIL_BAD_EMAIL:
            raise st.invalid_field("campaign_defaults.from_email", st.DETAIL_BAD_EMAIL)


def create_list(acct: Account, body: Any, now: int) -> AudienceList:
    """Validate a ``POST /lists`` body and create the audience."""
    if not isinstance(body, dict):
        raise st.schema_type_error("", "object", body)
    _validate_list_settings(body, partial=False)
    lst = AudienceList(st.new_id(acct.lists), dict(body), now)
    acct.lists[lst.id] = lst
    return lst


def h_lists_get(call: Call) -> Result:
    count, offset = page(call.query)
    lists = list(call.acct.lists.values())
    email = call.query.get("email")
    if email:
        h = st.subscriber_hash(email)
        lists = [lst for lst in lists if h in lst.members]
    if call.query.get("sort_dir", "").upper() == "DESC":
        lists.reverse()
    return 200, {
        "lists": [st.render_list(lst) for lst in lists[offset : offset + count]],
        "total_items": len(lists),
        "constraints": {
            "may_create": True,
            "max_instances": 100,
            "current_total_instances": len(call.acct.lists),
        },
        "_links": [],
    }


def h_lists_create(call: Call) -> Result:
    return 200, st.render_list(create_list(call.acct, call.body, call.now))


def h_list_get(call: Call) -> Result:
    return 200, st.render_list(_get_list(call))


def h_list_patch(call: Call) -> Result:
    lst = _get_list(call)
    body = _body_dict(call)
    _validate_list_settings(body, partial=True)
    lst.settings.update(body)
    return 200, st.render_list(lst)


def h_list_delete(call: Call) -> Result:
    _get_list(call)
    del call.acct.lists[call.params["list_id"]]
    return 204, None


def _shaped(call: Call) -> bool:
    return bool(call.query.get("fields") or call.query.get("exclude_fields"))


def h_batch_subscribe(call: Call) -> Result:
    lst = _get_list(call)
    result = st.batch_subscribe(
        call.emu.state,
        lst,
        call.body,
        flag(call.query, "skip_merge_validation"),
        flag(call.query, "skip_duplicate_check"),
        call.now,
    )
    return 200, (result.render(lst) if _shaped(call) else RawJSON(result.json(lst)))


_SORT_KEYS: dict[str, Callable[[st.Member], Any]] = {
    "timestamp_opt": lambda m: m.opt,
    "timestamp_signup": lambda m: m.get_extra("timestamp_signup"),
    "last_changed": lambda m: m.changed,
}


def h_members_get(call: Call) -> Result:
    lst = _get_list(call)
    q = call.query
    count, offset = page(q)
    status = q.get("status") or None
    if status is not None and status not in st.ALL_STATUSES:
        raise st.enum_error("status", st.ALL_STATUSES)
    since_lc = _time_param(q, "since_last_changed")
    before_lc = _time_param(q, "before_last_changed")
    since_opt = _time_param(q, "since_timestamp_opt")
    before_opt = _time_param(q, "before_timestamp_opt")
    email_type = q.get("email_type") or None
    vip_only = flag(q, "vip_only")
    unique_email_id = q.get("unique_email_id") or None
    sort_field = q.get("sort_field") or None
    if sort_field is not None and sort_field not in _SORT_KEYS:
        raise st.enum_error("sort_field", tuple(_SORT_KEYS))
    sort_dir = (q.get("sort_dir") or "ASC").upper()
    if sort_dir not in ("ASC", "DESC"):
        raise st.enum_error("sort_dir", ("ASC", "DESC"))
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

    def build() -> list[st.Member]:
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
    page_members = result[offset : offset + count]
    if not _shaped(call):
        members = st.members_json(lst, page_members)
        return 200, RawJSON(
            f'{{"members":{members},"list_id":"{lst.id}","total_items":{len(result)},"_links":[]}}'
        )
    return 200, {
        "members": [st.render_member(lst, m) for m in page_members],
        "list_id": lst.id,
        "total_items": len(result),
        "_links": [],
    }


def h_member_add(call: Call) -> Result:
    lst = _get_list(call)
    m = st.add_member(
        call.emu.state, lst, call.body, flag(call.query, "skip_merge_validation"), call.now
    )
    return 200, st.render_member(lst, m)


def h_member_get(call: Call) -> Result:
    lst = _get_list(call)
    return 200, st.render_member(lst, _get_member(call, lst))


def h_member_put(call: Call) -> Result:
    lst = _get_list(call)
    m = st.upsert_member(
        call.emu.state,
        lst,
        _member_hash(call),
        call.body,
        flag(call.query, "skip_merge_validation"),
        call.now,
    )
    return 200, st.render_member(lst, m)


def h_member_patch(call: Call) -> Result:
    lst = _get_list(call)
    m = st.patch_member(
        call.emu.state,
        lst,
        _member_hash(call),
        call.body,
        flag(call.query, "skip_merge_validation"),
        call.now,
    )
    return 200, st.render_member(lst, m)


def h_member_delete(call: Call) -> Result:
    st.archive_member(_get_list(call), _member_hash(call), call.now)
    return 204, None


def h_member_delete_permanent(call: Call) -> Result:
    st.delete_permanent(_get_list(call), _member_hash(call))
    return 204, None


def h_member_tags_get(call: Call) -> Result:
    lst = _get_list(call)
    m = _get_member(call, lst)
    count, offset = page(call.query)
    tags = []
    for sid in m.tags:
        seg = lst.segments.get(sid)
        if seg is not None:
            tags.append(
                {
                    "id": seg.id,
                    "name": seg.name,
                    "date_added": st.iso(seg.members.get(m.h, seg.created)),
                }
            )
    return 200, {"tags": tags[offset : offset + count], "total_items": len(tags), "_links": []}


def h_member_tags_post(call: Call) -> Result:
    st.update_member_tags(call.emu.state, _get_list(call), _member_hash(call), call.body, call.now)
    return 204, None


def h_tag_search(call: Call) -> Result:
    lst = _get_list(call)
    needle = (call.query.get("name") or "").lower()
    tags = [
        {"id": seg.id, "name": seg.name}
        for seg in lst.segments.values()
        if seg.type == "static" and needle in seg.name.lower()
    ]
    return 200, {"tags": tags, "total_items": len(tags)}


def h_segments_get(call: Call) -> Result:
    lst = _get_list(call)
    q = call.query
    count, offset = page(q)
    seg_type = q.get("type") or None
    if seg_type is not None and seg_type not in ("saved", "static", "fuzzy"):
        raise st.enum_error("type", ("saved", "static", "fuzzy"))
    segs = [s for s in lst.segments.values() if seg_type is None or s.type == seg_type]
    hidden = _hidden(q)
    return 200, {
        "segments": [st.render_segment(lst, s, hidden) for s in segs[offset : offset + count]],
        "list_id": lst.id,
        "total_items": len(segs),
        "_links": [],
    }


def h_segments_post(call: Call) -> Result:
    lst = _get_list(call)
    seg = st.create_segment(call.emu.state, lst, call.body, call.now)
    return 200, st.render_segment(lst, seg, st.HIDDEN_BY_DEFAULT)


def h_segment_get(call: Call) -> Result:
    lst = _get_list(call)
    return 200, st.render_segment(lst, _get_segment(call, lst), _hidden(call.query))


def h_segment_batch(call: Call) -> Result:
    lst = _get_list(call)
    seg = _get_segment(call, lst)
    result = st.batch_segment(lst, seg, call.body, call.now)
    return 200, (result.render(lst) if _shaped(call) else RawJSON(result.json(lst)))


def h_segment_patch(call: Call) -> Result:
    lst = _get_list(call)
    seg = _get_segment(call, lst)
    body = _body_dict(call)
    if "name" in body:
        st.check_tag_name(body["name"], "name")
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
            raise st.schema_type_error("static_segment", "array of strings", emails)
        wanted = {st.subscriber_hash(e) for e in emails}
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
    return 200, st.render_segment(lst, seg, st.HIDDEN_BY_DEFAULT)


def h_segment_delete(call: Call) -> Result:
    lst = _get_list(call)
    st.delete_segment(lst, _get_segment(call, lst))
    return 204, None


def h_segment_members_get(call: Call) -> Result:
    lst = _get_list(call)
    seg = _get_segment(call, lst)
    count, offset = page(call.query)
    hashes = st.segment_visible(lst, seg, _hidden(call.query))
    return 200, {
        "members": [st.render_member(lst, lst.members[h]) for h in hashes[offset : offset + count]],
        "total_items": len(hashes),
        "_links": [],
    }


def h_segment_member_add(call: Call) -> Result:
    lst = _get_list(call)
    seg = _get_segment(call, lst)
    body = _body_dict(call)
    email = body.get("email_address")
    if not isinstance(email, str) or not email:
        raise st.required_missing("", ["email_address"])
    m = lst.members.get(st.subscriber_hash(email))
    if m is None:
        raise ApiError(400, "Invalid Resource", f"{email}: {st.ERROR_NOT_ON_LIST}.")
    if seg.type != "static":
        raise ApiError(
            400, "Invalid Resource", "Members can only be added to static segments (tags)."
        )
    lst.add_tag(m, seg, call.now)
    return 200, st.render_member(lst, m)


def h_segment_member_delete(call: Call) -> Result:
    lst = _get_list(call)
    seg = _get_segment(call, lst)
    m = lst.members.get(_member_hash(call))
    if m is None or not lst.remove_tag(m, seg, call.now):
        raise st.not_found()
    return 204, None


def h_merge_fields_get(call: Call) -> Result:
    lst = _get_list(call)
    q = call.query
    count, offset = page(q)
    fields = lst.merge_fields
    if q.get("type"):
        fields = [f for f in fields if f["type"] == q["type"]]
    if q.get("required"):
        want = flag(q, "required")
        fields = [f for f in fields if f["required"] == want]
    return 200, {
        "merge_fields": [{**f, "_links": []} for f in fields[offset : offset + count]],
        "list_id": lst.id,
        "total_items": len(fields),
        "_links": [],
    }


def h_merge_field_get(call: Call) -> Result:
    lst = _get_list(call)
    for f in lst.merge_fields:
        if str(f["merge_id"]) == call.params["merge_id"]:
            return 200, {**f, "_links": []}
    raise st.not_found()


def h_merge_fields_post(call: Call) -> Result:
    lst = _get_list(call)
    body = _body_dict(call)
    missing = [k for k in ("name", "type") if not body.get(k)]
    if missing:
        raise st.required_missing("", missing)
    if body["type"] not in st.MERGE_TYPES:
        raise st.enum_error("type", st.MERGE_TYPES)
    tag = body.get("tag")
    if tag is None or tag == "":
        base = re.sub(r"[^A-Z0-9]", "", str(body["name"]).upper())[:10]
        tag = base if base and base not in lst.mf_index else f"MMERGE{lst.next_merge_id}"
    if not isinstance(tag, str) or not st._TAG_RE.match(tag) or tag == "EMAIL":
        raise st.invalid_field(
            "tag", "Merge tags are 1-10 characters: A-Z, 0-9 and _ (EMAIL is reserved)"
        )
    if tag in lst.mf_index:
        raise ApiError(
            400,
            "Invalid Resource",
            f'A Merge Field with the tag "{tag}" already exists for this list.',
        )
    if body["type"] in ("dropdown", "radio"):
        choices = (body.get("options") or {}).get("choices")
        if not isinstance(choices, list) or not choices:
            raise st.invalid_field("options.choices", "Please provide the choices for this field")
    field = lst.add_merge_field({**body, "tag": tag})
    lst.version += 1
    return 200, {**field, "_links": []}


_WEBHOOK_EVENTS = ("subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign")
_WEBHOOK_SOURCES = {"user": True, "admin": True, "api": False}


def _webhook_flags(body: dict[str, Any], key: str, defaults: dict[str, bool]) -> dict[str, bool]:
    value = body.get(key, {})
    if not isinstance(value, dict):
        raise st.schema_type_error(key, "object", value)
    out = dict(defaults)
    for k, v in value.items():
        if k not in defaults:
            raise st.invalid_field(f"{key}.{k}", f"Unknown {key} flag")
        if not isinstance(v, bool):
            raise st.schema_type_error(f"{key}.{k}", "boolean", v)
        out[k] = v
    return out


def _webhook_url(lst: AudienceList, url: Any, ignore: str | None = None) -> str:
    if not isinstance(url, str) or not url:
        raise st.required_missing("", ["url"])
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise st.invalid_field("url", "Please provide a valid URL")
    bare = parts._replace(query="", fragment="").geturl()
    for wid, hook in lst.webhooks.items():
        if wid != ignore and urlsplit(hook["url"])._replace(query="", fragment="").geturl() == bare:
            raise ApiError(
                400,
                "Invalid Resource",
                "The URL you provided is already in use for a webhook on this list.",
            )
    return url


def h_webhooks_get(call: Call) -> Result:
    lst = _get_list(call)
    hooks = list(lst.webhooks.values())
    return 200, {"webhooks": hooks, "list_id": lst.id, "total_items": len(hooks), "_links": []}


def h_webhooks_post(call: Call) -> Result:
    lst = _get_list(call)
    body = _body_dict(call)
    url = _webhook_url(lst, body.get("url"))
    hook = {
        "id": st.new_id(lst.webhooks),
        "url": url,
        "events": _webhook_flags(body, "events", dict.fromkeys(_WEBHOOK_EVENTS, False)),
        "sources": _webhook_flags(body, "sources", dict(_WEBHOOK_SOURCES)),
        "list_id": lst.id,
        "_links": [],
    }
    lst.webhooks[hook["id"]] = hook
    return 200, hook


def _get_webhook(call: Call, lst: AudienceList) -> dict[str, Any]:
    hook = lst.webhooks.get(call.params["webhook_id"])
    if hook is None:
        raise st.not_found()
    return hook


def h_webhook_get(call: Call) -> Result:
    return 200, _get_webhook(call, _get_list(call))


def h_webhook_patch(call: Call) -> Result:
    lst = _get_list(call)
    hook = _get_webhook(call, lst)
    body = _body_dict(call)
    if "url" in body:
        hook["url"] = _webhook_url(lst, body["url"], ignore=hook["id"])
    if "events" in body:
        hook["events"] = _webhook_flags(body, "events", hook["events"])
    if "sources" in body:
        hook["sources"] = _webhook_flags(body, "sources", hook["sources"])
    return 200, hook


def h_webhook_delete(call: Call) -> Result:
    lst = _get_list(call)
    _get_webhook(call, lst)
    del lst.webhooks[call.params["webhook_id"]]
    return 204, None


def _campaign_filter(call: Call, campaigns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    q = call.query
    if q.get("status"):
        if q["status"] not in st.CAMPAIGN_STATUSES:
            raise st.enum_error("status", st.CAMPAIGN_STATUSES)
        campaigns = [c for c in campaigns if c["status"] == q["status"]]
    if q.get("type"):
        campaigns = [c for c in campaigns if c["type"] == q["type"]]
    if q.get("list_id"):
        campaigns = [c for c in campaigns if c["list_id"] == q["list_id"]]
    for key, field, cmp in (
        ("since_send_time", "send_time", "ge"),
        ("before_send_time", "send_time", "lt"),
        ("since_create_time", "create_time", "ge"),
        ("before_create_time", "create_time", "lt"),
    ):
        bound = _time_param(q, key)
        if bound is None:
            continue
        kept = []
        for c in campaigns:
            value = c[field]
            ts = (st.parse_time(value, field) if value else None) if field == "send_time" else value
            if ts is not None and ((ts >= int(bound)) if cmp == "ge" else (ts < bound)):
                kept.append(c)
        campaigns = kept
    sort_field = q.get("sort_field")
    if sort_field in ("create_time", "send_time"):
        campaigns = sorted(
            campaigns,
            key=lambda c: (c[sort_field] or 0) if sort_field == "create_time" else c["send_time"],
        )
    if (q.get("sort_dir") or "").upper() == "DESC":
        campaigns = list(reversed(campaigns))
    return campaigns


def h_campaigns_get(call: Call) -> Result:
    count, offset = page(call.query)
    campaigns = _campaign_filter(call, list(call.acct.campaigns.values()))
    return 200, {
        "campaigns": [st.render_campaign(call.acct, c) for c in campaigns[offset : offset + count]],
        "total_items": len(campaigns),
        "_links": [],
    }


def _get_campaign(call: Call) -> dict[str, Any]:
    c = call.acct.campaigns.get(call.params["campaign_id"])
    if c is None:
        raise st.not_found()
    return c


def h_campaign_get(call: Call) -> Result:
    return 200, st.render_campaign(call.acct, _get_campaign(call))


def h_reports_get(call: Call) -> Result:
    count, offset = page(call.query)
    campaigns = [
        c for c in _campaign_filter(call, list(call.acct.campaigns.values())) if st.has_report(c)
    ]
    return 200, {
        "reports": [st.render_report(call.acct, c) for c in campaigns[offset : offset + count]],
        "total_items": len(campaigns),
        "_links": [],
    }


def h_report_get(call: Call) -> Result:
    c = _get_campaign(call)
    if not st.has_report(c):
        raise st.not_found()
    return 200, st.render_report(call.acct, c)


# ---- /batches ------------------------------------------------------------------------------

MAX_PENDING_BATCHES = 500
_BATCH_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class Batch:
    """A ``/batches`` job processed in the background."""

    def __init__(self, batch_id: str, ops: list[dict[str, Any]], now: int) -> None:
        self.id = batch_id
        self.ops = ops
        self.status = "pending"
        self.finished = 0
        self.errored = 0
        self.submitted = now
        self.completed = 0
        self.url = ""
        self.token = secrets.token_urlsafe(16)
        self.archive: bytes | None = None
        self.task: asyncio.Task[None] | None = None

    def render(self) -> dict[str, Any]:
        """Mailchimp's Batch object (unfinished fields are ``""``)."""
        return {
            "id": self.id,
            "status": self.status,
            "total_operations": len(self.ops),
            "finished_operations": self.finished,
            "errored_operations": self.errored,
            "submitted_at": st.iso(self.submitted),
            "completed_at": st.iso_or_empty(self.completed),
            "response_body_url": self.url,
            "_links": [],
        }


def h_batches_post(call: Call) -> Result:
    body = _body_dict(call)
    ops = body.get("operations")
    if ops is None:
        raise st.required_missing("", ["operations"])
    if not isinstance(ops, list):
        raise st.schema_type_error("operations", "array", ops)
    for i, op in enumerate(ops):
        prefix = f"operations.item:{i}"
        if not isinstance(op, dict):
            raise st.schema_type_error(prefix, "object", op)
        missing = [k for k in ("method", "path") if k not in op]
        if missing:
            raise st.required_missing(prefix, missing)
        if op["method"] not in _BATCH_METHODS:
            raise st.enum_error(prefix + ".method", _BATCH_METHODS)
        if not isinstance(op["path"], str):
            raise st.schema_type_error(prefix + ".path", "string", op["path"])
        if "body" in op and not isinstance(op["body"], str):
            raise st.schema_type_error(prefix + ".body", "string", op["body"])
        if "params" in op and not isinstance(op["params"], dict):
            raise st.schema_type_error(prefix + ".params", "object", op["params"])
    pending = sum(1 for b in call.acct.batches.values() if b.status != "finished")
    if pending >= MAX_PENDING_BATCHES:
        raise ApiError(
            429, "Too Many Requests", f"You have more than {MAX_PENDING_BATCHES} pending batches."
        )
    batch = Batch(st.new_id(call.acct.batches), ops, call.now)
    call.acct.batches[batch.id] = batch
    batch.task = asyncio.get_running_loop().create_task(
        call.emu.run_batch(call.acct, batch, call.base_url)
    )
    return 200, batch.render()


def h_batches_get(call: Call) -> Result:
    count, offset = page(call.query)
    batches = list(call.acct.batches.values())
    return 200, {
        "batches": [b.render() for b in batches[offset : offset + count]],
        "total_items": len(batches),
        "_links": [],
    }


def h_batch_get(call: Call) -> Result:
    batch = call.acct.batches.get(call.params["batch_id"])
    if batch is None:
        raise st.not_found()
    return 200, batch.render()


def h_batch_delete(call: Call) -> Result:
    batch = call.acct.batches.pop(call.params["batch_id"], None)
    if batch is None:
        raise st.not_found()
    if batch.task is not None:
        batch.task.cancel()
    return 204, None


# --------------------------------------------------------------------------------------------
# Routing table
# --------------------------------------------------------------------------------------------


def _members_in_batch(body: Any) -> int:
    if isinstance(body, dict) and isinstance(body.get("members"), list):
        return len(body["members"])
    return 0


def _members_in_segment_batch(body: Any) -> int:
    if not isinstance(body, dict):
        return 0
    n = 0
    for key in ("members_to_add", "members_to_remove"):
        if isinstance(body.get(key), list):
            n += len(body[key])
    return n


ROUTES: list[tuple[str, str, Handler, Callable[[Any], int] | None]] = [
    ("GET", "/", h_root, None),
    ("GET", "/ping", h_ping, None),
    ("GET", "/lists", h_lists_get, None),
    ("POST", "/lists", h_lists_create, None),
    ("GET", "/lists/{list_id}", h_list_get, None),
    ("POST", "/lists/{list_id}", h_batch_subscribe, _members_in_batch),
    ("PATCH", "/lists/{list_id}", h_list_patch, None),
    ("DELETE", "/lists/{list_id}", h_list_delete, None),
    ("GET", "/lists/{list_id}/members", h_members_get, None),
    ("POST", "/lists/{list_id}/members", h_member_add, None),
    ("GET", "/lists/{list_id}/members/{subscriber_hash}", h_member_get, None),
    ("PUT", "/lists/{list_id}/members/{subscriber_hash}", h_member_put, None),
    ("PATCH", "/lists/{list_id}/members/{subscriber_hash}", h_member_patch, None),
    ("DELETE", "/lists/{list_id}/members/{subscriber_hash}", h_member_delete, None),
    (
        "POST",
        "/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent",
        h_member_delete_permanent,
        None,
    ),
    ("GET", "/lists/{list_id}/members/{subscriber_hash}/tags", h_member_tags_get, None),
    ("POST", "/lists/{list_id}/members/{subscriber_hash}/tags", h_member_tags_post, None),
    ("GET", "/lists/{list_id}/tag-search", h_tag_search, None),
    ("GET", "/lists/{list_id}/segments", h_segments_get, None),
    ("POST", "/lists/{list_id}/segments", h_segments_post, None),
    ("GET", "/lists/{list_id}/segments/{segment_id}", h_segment_get, None),
    ("POST", "/lists/{list_id}/segments/{segment_id}", h_segment_batch, _members_in_segment_batch),
    ("PATCH", "/lists/{list_id}/segments/{segment_id}", h_segment_patch, None),
    ("DELETE", "/lists/{list_id}/segments/{segment_id}", h_segment_delete, None),
    ("GET", "/lists/{list_id}/segments/{segment_id}/members", h_segment_members_get, None),
    ("POST", "/lists/{list_id}/segments/{segment_id}/members", h_segment_member_add, None),
    (
        "DELETE",
        "/lists/{list_id}/segments/{segment_id}/members/{subscriber_hash}",
        h_segment_member_delete,
        None,
    ),
    ("GET", "/lists/{list_id}/merge-fields", h_merge_fields_get, None),
    ("POST", "/lists/{list_id}/merge-fields", h_merge_fields_post, None),
    ("GET", "/lists/{list_id}/merge-fields/{merge_id}", h_merge_field_get, None),
    ("GET", "/lists/{list_id}/webhooks", h_webhooks_get, None),
    ("POST", "/lists/{list_id}/webhooks", h_webhooks_post, None),
    ("GET", "/lists/{list_id}/webhooks/{webhook_id}", h_webhook_get, None),
    ("PATCH", "/lists/{list_id}/webhooks/{webhook_id}", h_webhook_patch, None),
    ("DELETE", "/lists/{list_id}/webhooks/{webhook_id}", h_webhook_delete, None),
    ("GET", "/campaigns", h_campaigns_get, None),
    ("GET", "/campaigns/{campaign_id}", h_campaign_get, None),
    ("GET", "/reports", h_reports_get, None),
    ("GET", "/reports/{campaign_id}", h_report_get, None),
    ("GET", "/batches", h_batches_get, None),
    ("POST", "/batches", h_batches_post, None),
    ("GET", "/batches/{batch_id}", h_batch_get, None),
    ("DELETE", "/batches/{batch_id}", h_batch_delete, None),
]


@dataclass
class RouteEntry:
    """All methods served at one path template."""

    template: str
    regex: re.Pattern[str]
    methods: dict[str, tuple[Handler, Callable[[Any], int] | None]]


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return re.compile(f"^{pattern}$")


def build_router() -> list[RouteEntry]:
    """Group ``ROUTES`` by template."""
    entries: dict[str, RouteEntry] = {}
    for method, template, handler, counter in ROUTES:
        entry = entries.get(template)
        if entry is None:
            entry = entries[template] = RouteEntry(template, _compile(template), {})
        entry.methods[method] = (handler, counter)
    return list(entries.values())


ROUTER = build_router()


def match(path: str) -> tuple[RouteEntry, dict[str, str]] | None:
    """Find the route for an API path (relative to ``/3.0``)."""
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    for entry in ROUTER:
        m = entry.regex.match(path)
        if m:
            return entry, m.groupdict()
    return None


# --------------------------------------------------------------------------------------------
# ASGI plumbing
# --------------------------------------------------------------------------------------------


async def _read_body(receive: Callable[[], Any]) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _send(
    send: Callable[[dict[str, Any]], Any],
    status: int,
    body: bytes,
    content_type: bytes,
    rid: str,
    extra: dict[str, str] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", rid.encode()),
    ]
    if extra:
        headers.extend((k.lower().encode(), v.encode()) for k, v in extra.items())
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Callable[[dict[str, Any]], Any], err: ApiError, rid: str) -> None:
    await _send(send, err.status, st.dumps(err.body(rid)), PROBLEM_CT, rid, err.headers)


async def drop_connection(
    receive: Callable[[], Any], send: Callable[[dict[str, Any]], Any]
) -> None:
    """Close the TCP connection without any response.

    uvicorn's request cycle (``receive.__self__``) holds the transport; closing it and letting
    ``connection_lost`` run makes uvicorn treat the request as a client disconnect (no 500, no
    log line).  Without that handle we start a response and abort it (the client then sees an
    incomplete response — still a protocol error)."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        transport.close()
        for _ in range(50):
            if getattr(cycle, "disconnected", True):
                return
            await asyncio.sleep(0)
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
    )
    raise ConnectionAbortedError("emulator: injected dropped connection")


_HTML_5XX = {
    502: b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    b"</center><hr><center>openresty</center></body></html>",
    503: b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><center>"
    b"<h1>503 Service Temporarily Unavailable</h1></center><hr><center>openresty</center></body></html>",
}


def _internal_error(rid: str) -> dict[str, Any]:
    """Mailchimp's 500 problem document (its ``type`` was ``about:blank``)."""
    return {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": st.DETAIL_500,
        "instance": rid,
    }


def _parse_auth(header: str | None) -> tuple[str, str] | None:
    """``(kind, secret)`` from an Authorization header: kind ``key`` or ``token``."""
    if not header:
        return None
    scheme, _, cred = header.strip().partition(" ")
    scheme = scheme.lower()
    cred = cred.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(cred, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ("key", "")
        _, sep, key = decoded.partition(":")
        return ("key", key if sep else decoded)
    if scheme in ("bearer", "oauth"):
        return ("token", cred)
    return ("key", "")


class Emulator:
    """The ASGI application.  ``Emulator(settings, api_keys)``; serve it with uvicorn."""

    def __init__(
        self, settings: FaultSettings | None = None, api_keys: tuple[str, ...] | list[str] = ()
    ) -> None:
        self.state = EmulatorState()
        self.faults = Faults(settings)
        self.stats = Stats()
        for key in api_keys:
            dc = key.rpartition("-")[2]
            if "-" not in key or not st.valid_dc(dc):
                raise ValueError("--api-key values must look like <key>-<dc>, e.g. ...-us1")
            self.state.preset_keys.append(key)
        self.state.reset()
        self.admin = build_admin(self)

    # ---- auth ------------------------------------------------------------------------------
    def authenticate(self, header: str | None, dc: str | None) -> Account:
        """The account for an Authorization header (``dc`` = the path's data centre, if any)."""
        parsed = _parse_auth(header)
        if parsed is None or not parsed[1]:
            if parsed is None:
                raise ApiError(401, "API Key Missing", st.DETAIL_KEY_MISSING)
            raise ApiError(401, "API Key Invalid", st.DETAIL_KEY_INVALID)
        kind, secret = parsed
        if kind == "key":
            acct = self.state.accounts.get(secret)
            if acct is None or (dc is not None and secret.rpartition("-")[2] != dc):
                raise ApiError(401, "API Key Invalid", st.DETAIL_KEY_INVALID)
        else:
            acct = self.state.tokens.get(secret)
            if acct is None or (dc is not None and acct.dc != dc):
                raise ApiError(401, "API Key Invalid", st.DETAIL_KEY_INVALID)
        if acct.disabled:
            raise ApiError(403, "User Disabled", st.DETAIL_DISABLED)
        return acct

    # ---- ASGI ------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["path"].startswith("/_emulator"):
            await self.admin(scope, receive, send)
            return
        await self.api(scope, receive, send)

    async def shutdown(self) -> None:
        """Cancel background batch jobs."""
        for acct in list(self.state.accounts.values()):
            self.cancel_batches(acct)

    def cancel_batches(self, acct: Account) -> None:
        """Stop an account's running ``/batches`` jobs."""
        for batch in acct.batches.values():
            if batch.task is not None and not batch.task.done():
                batch.task.cancel()

    async def api(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Serve one Mailchimp API request: auth, route, connection limit, faults, handler."""
        rid = st.request_id()
        method = scope["method"]
        m = _API_PATH.match(scope["path"])
        if m is None:
            self.stats.record(f"{method} <unknown>", "404", False)
            await _send_error(send, st.not_found(), rid)
            return
        dc, rest = m.group(1), m.group(2) or "/"
        found = match(rest)
        template = found[0].template if found else "<unknown>"
        route_key = f"{method} {template}"
        header = None
        host = "127.0.0.1"
        for k, v in scope["headers"]:
            if k == b"authorization":
                header = v.decode("latin-1")
            elif k == b"host":
                host = v.decode("latin-1")
        try:
            acct = self.authenticate(header, dc)
        except ApiError as err:
            self.stats.record(route_key, str(err.status), False)
            await _send_error(send, err, rid)
            return
        stats = acct.stats
        if found is None:
            err = st.not_found()
        elif method not in found[0].methods:
            err = ApiError(
                405,
                "Method Not Allowed",
                st.DETAIL_METHOD,
                headers={"Allow": ", ".join(found[0].methods)},
            )
        else:
            err = None
        if err is not None:
            self._record(stats, route_key, str(err.status), False)
            await _send_error(send, err, rid)
            return
        entry, params = found  # type: ignore[misc]
        handler, counter = entry.methods[method]
        acct.in_flight += 1
        try:
            if acct.in_flight > stats.max_concurrency:
                stats.max_concurrency = acct.in_flight
                self.stats.max_concurrency = max(self.stats.max_concurrency, acct.in_flight)
            limit = self.faults.max_connections(acct.key)
            if acct.in_flight > limit:
                stats.faults["limit"] += 1
                self._record(stats, route_key, "429", False)
                await _send_error(
                    send,
                    ApiError(429, "Too Many Requests", st.too_many_connections_detail(limit)),
                    rid,
                )
                return
            raw = await _read_body(receive)
            body = None
            if raw.strip():
                try:
                    body = json.loads(raw)
                except (ValueError, UnicodeDecodeError):
                    self._record(stats, route_key, "400", False)
                    await _send_error(send, ApiError(400, "JSON Parse Error", st.DETAIL_JSON), rid)
                    return
            decision = self.faults.decide(acct.key, counter(body) if counter else 0)
            if decision.kind == "throttle":
                stats.faults["throttle"] += 1
                self._record(stats, route_key, "429", False)
                await _send_error(
                    send,
                    ApiError(429, "Too Many Requests", st.too_many_connections_detail(limit)),
                    rid,
                )
                return
            if decision.delay:
                await asyncio.sleep(decision.delay)
            if decision.kind == "error":
                stats.faults["error"] += 1
                self._record(stats, route_key, str(decision.error_status), False)
                if decision.error_status == 500:
                    await _send(send, 500, st.dumps(_internal_error(rid)), PROBLEM_CT, rid)
                else:
                    await _send(
                        send,
                        decision.error_status,
                        _HTML_5XX[decision.error_status],
                        b"text/html",
                        rid,
                    )
                return
            if decision.kind == "drop":
                stats.faults["drop"] += 1
                self._record(stats, route_key, "dropped", False)
                await drop_connection(receive, send)
                return
            query = dict(
                parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            )
            call = Call(
                self,
                acct,
                method,
                params,
                query,
                body,
                f"{scope.get('scheme', 'http')}://{host}",
                self.state.clock.now(),
            )
            try:
                status, payload = handler(call)
            except ApiError as exc:
                self._record(stats, route_key, str(exc.status), False)
                await _send_error(send, exc, rid)
                return
            except Exception:  # an emulator bug: answer like Mailchimp's 500, log the route only
                log.exception("emulator error in %s", route_key)
                self._record(stats, route_key, "500", False)
                await _send(send, 500, st.dumps(_internal_error(rid)), PROBLEM_CT, rid)
                return
            write = method in WRITE_METHODS and 200 <= status < 300
            if decision.ack_loss:
                stats.faults["ack_loss"] += 1
                self._record(stats, route_key, "dropped", write)
                await drop_connection(receive, send)
                return
            self._record(stats, route_key, str(status), write)
            if payload is None:
                out = b""
            elif isinstance(payload, RawJSON):
                out = payload.text.encode("utf-8")
            else:
                out = st.dumps(shape(payload, query))
            await _send(send, status, out, JSON_CT, rid)
        finally:
            acct.in_flight -= 1

    def _record(self, stats: Stats, route_key: str, status: str, write: bool) -> None:
        stats.record(route_key, status, write)
        self.stats.record(route_key, status, write)

    # ---- internal calls (/batches) ---------------------------------------------------------
    def call_internal(
        self,
        acct: Account,
        method: str,
        path: str,
        params: dict[str, Any],
        body_text: str | None,
        base_url: str,
    ) -> tuple[int, Any]:
        """Run one operation of a ``/batches`` job through the same handlers (no faults)."""
        rid = st.request_id()
        path, _, qs = path.partition("?")
        if path.startswith("/3.0/"):
            path = path[4:]
        if not path.startswith("/"):
            path = "/" + path
        query = dict(parse_qsl(qs, keep_blank_values=True))
        query.update(
            {
                k: str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in (params or {}).items()
            }
        )
        found = match(path)
        try:
            if found is None:
                raise st.not_found()
            entry, path_params = found
            if method not in entry.methods:
                raise ApiError(
                    405,
                    "Method Not Allowed",
                    st.DETAIL_METHOD,
                    headers={"Allow": ", ".join(entry.methods)},
                )
            body = None
            if body_text:
                try:
                    body = json.loads(body_text)
                except ValueError:
                    raise ApiError(400, "JSON Parse Error", st.DETAIL_JSON) from None
            handler = entry.methods[method][0]
            status, payload = handler(
                Call(self, acct, method, path_params, query, body, base_url, self.state.clock.now())
            )
            return status, shape(payload, query)
        except ApiError as exc:
            return exc.status, exc.body(rid)
        except Exception:
            log.exception("emulator error in a /batches operation")
            return 500, _internal_error(rid)

    async def run_batch(self, acct: Account, batch: Batch, base_url: str) -> None:
        """Process a ``/batches`` job: pending → started → finalizing → finished."""
        await asyncio.sleep(0.05)
        if acct.batches.get(batch.id) is not batch:
            return
        batch.status = "started"
        results = []
        for i, op in enumerate(batch.ops):
            status, payload = self.call_internal(
                acct, op["method"], op["path"], op.get("params") or {}, op.get("body"), base_url
            )
            results.append(
                {
                    "status_code": status,
                    "operation_id": op.get("operation_id"),
                    "response": _as_text(payload),
                }
            )
            batch.finished += 1
            acct.stats.batch_operations += 1
            self.stats.batch_operations += 1
            if status >= 400:
                batch.errored += 1
            if i % 50 == 49:
                await asyncio.sleep(0)
                if acct.batches.get(batch.id) is not batch:
                    return
        batch.status = "finalizing"
        buf = io.BytesIO()
        data = json.dumps(results).encode("utf-8")
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            info = tarfile.TarInfo(f"{batch.id}/{batch.id}.json")
            info.size = len(data)
            info.mtime = self.state.clock.now()
            tar.addfile(info, io.BytesIO(data))
        batch.archive = buf.getvalue()
        batch.url = f"{base_url}/_emulator/batch-results/{batch.token}.tar.gz"
        batch.completed = self.state.clock.now()
        batch.status = "finished"

    def find_batch_archive(self, token: str) -> bytes | None:
        """The result archive for a batch token (any account)."""
        for acct in self.state.accounts.values():
            for batch in acct.batches.values():
                if batch.token == token and batch.archive is not None:
                    return batch.archive
        return None


def _as_text(payload: Any) -> str:
    if payload is None:
        return ""
    if isinstance(payload, RawJSON):
        return payload.text
    return json.dumps(payload, ensure_ascii=False)


def create_app(
    settings: FaultSettings | None = None, api_keys: tuple[str, ...] | list[str] = ()
) -> Emulator:
    """Build the emulator ASGI app."""
    return Emulator(settings, api_keys)


# --------------------------------------------------------------------------------------------
# Admin routes (/_emulator/…, not part of Mailchimp; no faults, no connection limit)
# --------------------------------------------------------------------------------------------

DEFAULT_LIST_SETTINGS: dict[str, Any] = {
    "contact": {
        "company": "Emulator Inc.",
        "address1": "1 Loopback Way",
        "city": "Atlanta",
        "state": "GA",
        "zip": "30308",
        "country": "US",
    },
    "permission_reminder": "You signed up on our site.",
    "campaign_defaults": {
        "from_name": "Emulator",
        "from_email": "news@emulator-mail.net",
        "subject": "",
        "language": "en",
    },
    "email_type_option": False,
}


def _problem(err: ApiError) -> Response:
    rid = st.request_id()
    return Response(
        st.dumps(err.body(rid)),
        status_code=err.status,
        media_type="application/problem+json; charset=utf-8",
        headers={"X-Request-Id": rid, **err.headers},
    )


def _json(payload: Any, status: int = 200) -> Response:
    return Response(
        st.dumps(payload), status_code=status, media_type="application/json; charset=utf-8"
    )


async def _admin_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "JSON Parse Error", st.DETAIL_JSON) from None


def build_admin(emu: Emulator) -> Starlette:
    """The ``/_emulator/`` Starlette app bound to ``emu``."""
    state = emu.state

    def account(request: Request, required: bool = True) -> Account | None:
        header = request.headers.get("authorization")
        if header is None and not required:
            return None
        acct = emu.authenticate(header, None) if header else None
        if acct is None:
            raise ApiError(401, "API Key Missing", st.DETAIL_KEY_MISSING)
        return acct

    def account_even_disabled(request: Request) -> Account:
        parsed = _parse_auth(request.headers.get("authorization"))
        if parsed is None or not parsed[1]:
            raise ApiError(401, "API Key Missing", st.DETAIL_KEY_MISSING)
        acct = (state.accounts if parsed[0] == "key" else state.tokens).get(parsed[1])
        if acct is None:
            raise ApiError(401, "API Key Invalid", st.DETAIL_KEY_INVALID)
        return acct

    def the_list(acct: Account, request: Request) -> AudienceList:
        lst = acct.lists.get(request.path_params["list_id"])
        if lst is None:
            raise st.not_found()
        return lst

    def route(path: str, methods: list[str]) -> Callable[[Callable[[Request], Any]], Route]:
        def wrap(fn: Callable[[Request], Any]) -> Route:
            async def endpoint(request: Request) -> Response:
                try:
                    return await fn(request)
                except ApiError as err:
                    return _problem(err)

            return Route(path, endpoint, methods=methods)

        return wrap

    routes: list[Route] = []

    def add(
        path: str, *methods: str
    ) -> Callable[[Callable[[Request], Any]], Callable[[Request], Any]]:
        def deco(fn: Callable[[Request], Any]) -> Callable[[Request], Any]:
            routes.append(route(path, list(methods))(fn))
            return fn

        return deco

    @add("/_emulator/health", "GET")
    async def health(request: Request) -> Response:
        return _json({"status": "ok"})

    @add("/_emulator/accounts", "POST")
    async def accounts(request: Request) -> Response:
        body = await _admin_body(request)
        if not isinstance(body, dict):
            raise st.schema_type_error("", "object", body)
        dc = body.get("dc") or "us1"
        if not isinstance(dc, str) or not st.valid_dc(dc):
            raise st.invalid_field("dc", "dc must look like us1, us21, eu1 …")
        name = body.get("account_name") or "Test"
        acct = state.create_account(str(name), dc)
        return _json({"api_key": acct.key, "dc": acct.dc, "account_name": acct.name})

    @add("/_emulator/account/disable", "POST")
    async def disable(request: Request) -> Response:
        acct = account_even_disabled(request)
        acct.disabled = True
        return _json({"disabled": True})

    @add("/_emulator/account/enable", "POST")
    async def enable(request: Request) -> Response:
        acct = account_even_disabled(request)
        acct.disabled = False
        return _json({"disabled": False})

    @add("/_emulator/account/revoke", "POST")
    async def revoke(request: Request) -> Response:
        acct = account_even_disabled(request)
        emu.cancel_batches(acct)
        state.revoke(acct)
        emu.faults.forget(acct.key)
        return _json({"revoked": True})

    @add("/_emulator/lists", "POST")
    async def admin_create_list(request: Request) -> Response:
        acct = account(request)
        body = await _admin_body(request)
        if not isinstance(body, dict):
            raise st.schema_type_error("", "object", body)
        lst = create_list(
            acct, {**DEFAULT_LIST_SETTINGS, "name": "Audience", **body}, state.clock.now()
        )
        return _json(st.render_list(lst))

    @add("/_emulator/lists/{list_id}", "DELETE")
    async def admin_delete_list(request: Request) -> Response:
        acct = account(request)
        the_list(acct, request)
        del acct.lists[request.path_params["list_id"]]
        return Response(status_code=204)

    @add("/_emulator/lists/{list_id}/members", "GET")
    async def dump(request: Request) -> Response:
        acct = account(request)
        lst = the_list(acct, request)
        status = request.query_params.get("status")
        segs = lst.segments
        out = []
        for m in lst.members.values():
            if status and m.status != status:
                continue
            out.append(
                {
                    "email_address": m.email,
                    "subscriber_hash": m.h,
                    "status": m.status,
                    "merge_fields": st.merge_dict(lst, m.mf),
                    "tags": [segs[t].name for t in m.tags if t in segs],
                    "last_changed": st.iso(m.changed),
                    "unsubscribe_reason": m.get_extra("unsubscribe_reason"),
                    "compliance": m.compliance,
                }
            )
        return _json(
            {
                "members": out,
                "list_id": lst.id,
                "total_items": len(out),
                "forgotten": len(lst.forgotten),
            }
        )

    @add("/_emulator/lists/{list_id}/members/bulk-load", "POST")
    async def bulk(request: Request) -> Response:
        acct = account(request)
        lst = the_list(acct, request)
        raw = await request.body()
        text = raw.decode("utf-8").strip()
        try:
            if text.startswith("["):
                rows: Any = json.loads(text)
            elif text.startswith("{") and '"members"' in text[:200] and "\n" not in text:
                rows = json.loads(text)["members"]
            else:  # JSON lines: one parse of the joined array is faster than one per line
                rows = json.loads(
                    "[" + ",".join(ln for ln in text.splitlines() if ln.strip()) + "]"
                )
        except ValueError:
            raise ApiError(400, "JSON Parse Error", st.DETAIL_JSON) from None
        if not isinstance(rows, list):
            raise st.schema_type_error("members", "array", rows)
        out = st.bulk_load(state, lst, rows, state.clock.now())
        del rows
        if len(lst.members) >= 100_000:
            gc.freeze()  # a big, long-lived audience: keep it out of future GC passes
        return _json(out)

    @add("/_emulator/lists/{list_id}/members/{subscriber_hash}/events", "POST")
    async def events(request: Request) -> Response:
        acct = account(request)
        lst = the_list(acct, request)
        body = await _admin_body(request)
        h = st.hash_from_path(request.path_params["subscriber_hash"])
        m = lst.members.get(h) if h else None
        if m is None:
            raise st.not_found()
        kind = body.get("type") if isinstance(body, dict) else None
        if kind not in st.MEMBER_EVENTS:
            raise st.enum_error("type", st.MEMBER_EVENTS)
        st.member_event(lst, m, kind, state.clock.now())
        return _json(st.render_member(lst, m))

    @add("/_emulator/lists/{list_id}/members/{subscriber_hash}/tags", "POST")
    async def admin_tags(request: Request) -> Response:
        acct = account(request)
        lst = the_list(acct, request)
        body = await _admin_body(request)
        h = st.hash_from_path(request.path_params["subscriber_hash"])
        m = lst.members.get(h) if h else None
        if m is None:
            raise st.not_found()
        now = state.clock.now()
        for name in body.get("add", []):
            st.check_tag_name(name, "add")
            lst.add_tag(m, lst.tag_segment(name.strip(), now, state.next_segment_id), now)
        for name in body.get("remove", []):
            seg = lst.seg_by_name.get(str(name).strip().lower())
            if seg is not None:
                lst.remove_tag(m, seg, now)
        return _json(st.render_member(lst, m))

    @add("/_emulator/campaigns", "POST")
    async def campaigns(request: Request) -> Response:
        acct = account(request)
        body = await _admin_body(request)
        if not isinstance(body, dict):
            raise st.schema_type_error("", "object", body)
        c = st.new_campaign(acct, body, state.clock.now())
        return _json(st.render_campaign(acct, c))

    @add("/_emulator/campaigns/{campaign_id}", "PATCH", "DELETE")
    async def campaign(request: Request) -> Response:
        acct = account(request)
        c = acct.campaigns.get(request.path_params["campaign_id"])
        if c is None:
            raise st.not_found()
        if request.method == "DELETE":
            del acct.campaigns[c["id"]]
            return Response(status_code=204)
        body = await _admin_body(request)
        if not isinstance(body, dict):
            raise st.schema_type_error("", "object", body)
        st.apply_campaign_fields(acct, c, body, state.clock.now())
        return _json(st.render_campaign(acct, c))

    @add("/_emulator/stats", "GET")
    async def stats(request: Request) -> Response:
        acct = account(request, required=False)
        return _json((acct.stats if acct else emu.stats).as_dict())

    @add("/_emulator/faults", "GET", "POST")
    async def faults(request: Request) -> Response:
        acct = account(request, required=False)
        key = acct.key if acct else None
        if request.method == "GET":
            return _json(emu.faults.effective(key))
        body = await _admin_body(request)
        if not isinstance(body, dict):
            raise st.schema_type_error("", "object", body)
        clear = bool(body.pop("clear", False))
        try:
            return _json(emu.faults.configure(key, body, clear=clear))
        except ValueError as exc:
            raise st.invalid_field("faults", str(exc)) from None

    @add("/_emulator/reset", "POST")
    async def reset(request: Request) -> Response:
        acct = account(request, required=False)
        if acct is not None:
            emu.cancel_batches(acct)
            acct.lists.clear()
            acct.campaigns.clear()
            acct.batches.clear()
            acct.stats = Stats()
            emu.faults.forget(acct.key)
        else:
            await emu.shutdown()
            state.reset()
            emu.faults.reset()
            emu.stats = Stats()
        return _json({"reset": True})

    @add("/_emulator/clock", "GET", "POST")
    async def clock(request: Request) -> Response:
        if request.method == "POST":
            body = await _admin_body(request)
            seconds = body.get("advance_seconds", 0) if isinstance(body, dict) else 0
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise st.invalid_field("advance_seconds", "must be a non-negative number")
            state.clock.advance(int(seconds))
        return _json({"now": st.iso(state.clock.now())})

    @add("/_emulator/oauth2/metadata", "GET")
    async def oauth_metadata(request: Request) -> Response:
        base = f"{request.url.scheme}://{request.headers.get('host', '127.0.0.1')}"
        parsed = _parse_auth(request.headers.get("authorization"))
        acct = state.tokens.get(parsed[1]) if parsed and parsed[1] else None
        if acct is None:
            return _json({"error": "invalid_token", "error_description": "Invalid token"})
        return _json(
            {
                "dc": acct.dc,
                "role": "owner",
                "accountname": acct.name,
                "user_id": acct.user_id,
                "login": {
                    "email": "owner@emulator.invalid",
                    "avatar": None,
                    "login_id": acct.user_id,
                    "login_name": acct.name.lower().replace(" ", ""),
                    "login_email": "owner@emulator.invalid",
                },
                "login_url": f"{base}/_emulator/login",
                "api_endpoint": f"{base}/{acct.dc}",
            }
        )

    @add("/_emulator/batch-results/{name}", "GET")
    async def batch_results(request: Request) -> Response:
        name = request.path_params["name"]
        token = name.removesuffix(".tar.gz")
        archive = emu.find_batch_archive(token)
        if archive is None:
            raise st.not_found()
        return Response(archive, media_type="application/x-gzip")

    return Starlette(routes=routes)
