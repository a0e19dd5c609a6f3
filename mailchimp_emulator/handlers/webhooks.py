"""``/lists/{id}/webhooks``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..errors import ApiError, invalid_field, not_found, required_missing, schema_type_error
from ..model import AudienceList, new_id
from .base import Call, Result, body_dict, get_list

_WEBHOOK_EVENTS = ("subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign")
_WEBHOOK_SOURCES = {"user": True, "admin": True, "api": False}


def _webhook_flags(body: dict[str, Any], key: str, defaults: dict[str, bool]) -> dict[str, bool]:
    value = body.get(key, {})
    if not isinstance(value, dict):
        raise schema_type_error(key, "object", value)
    out = dict(defaults)
    for k, v in value.items():
        if k not in defaults:
            raise invalid_field(f"{key}.{k}", f"Unknown {key} flag")
        if not isinstance(v, bool):
            raise schema_type_error(f"{key}.{k}", "boolean", v)
        out[k] = v
    return out


def _webhook_url(lst: AudienceList, url: Any, ignore: str | None = None) -> str:
    if not isinstance(url, str) or not url:
        raise required_missing("", ["url"])
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid_field("url", "Please provide a valid URL")
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
    lst = get_list(call)
    hooks = list(lst.webhooks.values())
    return 200, {"webhooks": hooks, "list_id": lst.id, "total_items": len(hooks), "_links": []}


async def h_webhooks_post(call: Call) -> Result:
    lst = get_list(call)
    body = body_dict(call)
    url = _webhook_url(lst, body.get("url"))
    events = _webhook_flags(body, "events", dict.fromkeys(_WEBHOOK_EVENTS, False))
    sources = _webhook_flags(body, "sources", dict(_WEBHOOK_SOURCES))
    await call.emu.webhooks.validate(url)
    _webhook_url(lst, url)  # another request may have registered it while we validated
    hook = {
        "id": new_id(lst.webhooks),
        "url": url,
        "events": events,
        "sources": sources,
        "list_id": lst.id,
        "_links": [],
    }
    lst.webhooks[hook["id"]] = hook
    return 200, hook


def _get_webhook(call: Call, lst: AudienceList) -> dict[str, Any]:
    hook = lst.webhooks.get(call.params["webhook_id"])
    if hook is None:
        raise not_found()
    return hook


def h_webhook_get(call: Call) -> Result:
    return 200, _get_webhook(call, get_list(call))


async def h_webhook_patch(call: Call) -> Result:
    lst = get_list(call)
    hook = _get_webhook(call, lst)
    body = body_dict(call)
    events = _webhook_flags(body, "events", hook["events"]) if "events" in body else None
    sources = _webhook_flags(body, "sources", hook["sources"]) if "sources" in body else None
    if "url" in body:
        url = _webhook_url(lst, body["url"], ignore=hook["id"])
        if url != hook["url"]:
            await call.emu.webhooks.validate(url)
        hook["url"] = _webhook_url(lst, url, ignore=hook["id"])
    if events is not None:
        hook["events"] = events
    if sources is not None:
        hook["sources"] = sources
    return 200, hook


def h_webhook_delete(call: Call) -> Result:
    lst = get_list(call)
    _get_webhook(call, lst)
    del lst.webhooks[call.params["webhook_id"]]
    return 204, None


