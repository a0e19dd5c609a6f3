"""API routing table and the raw-ASGI plumbing (responses, dropped connections, auth header)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import DETAIL_500, ApiError, dumps
from .handlers.base import Handler
from .handlers.batches import h_batch_delete, h_batch_get, h_batches_get, h_batches_post
from .handlers.campaigns import h_campaign_get, h_campaigns_get
from .handlers.lists import (
    h_batch_subscribe,
    h_list_delete,
    h_list_get,
    h_list_patch,
    h_lists_create,
    h_lists_get,
)
from .handlers.members import (
    h_member_add,
    h_member_delete,
    h_member_delete_permanent,
    h_member_get,
    h_member_patch,
    h_member_put,
    h_member_tags_get,
    h_member_tags_post,
    h_members_get,
    h_tag_search,
)
from .handlers.merge_fields import h_merge_field_get, h_merge_fields_get, h_merge_fields_post
from .handlers.ping import h_ping, h_root
from .handlers.reports import h_report_get, h_reports_get
from .handlers.segments import (
    h_segment_batch,
    h_segment_delete,
    h_segment_get,
    h_segment_member_add,
    h_segment_member_delete,
    h_segment_members_get,
    h_segment_patch,
    h_segments_get,
    h_segments_post,
)
from .handlers.webhooks import (
    h_webhook_delete,
    h_webhook_get,
    h_webhook_patch,
    h_webhooks_get,
    h_webhooks_post,
)

JSON_CT = b"application/json; charset=utf-8"
PROBLEM_CT = b"application/problem+json; charset=utf-8"
_API_PATH = re.compile(r"^/([^/]+)/3\.0(/.*)?$")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
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
    await _send(send, err.status, dumps(err.body(rid)), PROBLEM_CT, rid, err.headers)


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
        "detail": DETAIL_500,
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


