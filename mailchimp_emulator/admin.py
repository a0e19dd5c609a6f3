"""Admin routes (``/_emulator/…``, not part of Mailchimp; no faults, no connection limit)."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .bulk import bulk_load
from .campaigns import apply_campaign_fields, new_campaign, render_campaign
from .clock import iso
from .emails import hash_from_path, subscriber_hash
from .errors import (
    DETAIL_JSON,
    DETAIL_KEY_INVALID,
    DETAIL_KEY_MISSING,
    MEMBER_EVENTS,
    ApiError,
    dumps,
    enum_error,
    invalid_field,
    not_found,
    request_id,
    schema_type_error,
)
from .faults import Stats
from .handlers.lists import create_list
from .members import check_tag_name
from .merge_fields import merge_dict
from .model import Account, AudienceList, valid_dc
from .people import member_event, signup
from .rendering import render_list, render_member
from .routing import _parse_auth

if TYPE_CHECKING:
    from .app import Emulator

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
    rid = request_id()
    return Response(
        dumps(err.body(rid)),
        status_code=err.status,
        media_type="application/problem+json; charset=utf-8",
        headers={"X-Request-Id": rid, **err.headers},
    )


def _json(payload: Any, status: int = 200) -> Response:
    return Response(
        dumps(payload), status_code=status, media_type="application/json; charset=utf-8"
    )


async def _admin_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "JSON Parse Error", DETAIL_JSON) from None


def _by_contact_id(lst: AudienceList, contact_id: str) -> Any:
    m = lst.members.get(contact_id[::-1])
    if m is not None and m.origin == contact_id[::-1]:
        return m
    return next((x for x in lst.members.values() if x.origin == contact_id[::-1]), None)


def build_admin(emu: Emulator) -> Starlette:
    """The ``/_emulator/`` Starlette app bound to ``emu``."""
    state = emu.state

    def account(request: Request, required: bool = True) -> Account | None:
        header = request.headers.get("authorization")
        if header is None and not required:
            return None
        acct = emu.authenticate(header, None) if header else None
        if acct is None:
            raise ApiError(401, "API Key Missing", DETAIL_KEY_MISSING)
        return acct

    def account_even_disabled(request: Request) -> Account:
        parsed = _parse_auth(request.headers.get("authorization"))
        if parsed is None or not parsed[1]:
            raise ApiError(401, "API Key Missing", DETAIL_KEY_MISSING)
        acct = (state.accounts if parsed[0] == "key" else state.tokens).get(parsed[1])
        if acct is None:
            raise ApiError(401, "API Key Invalid", DETAIL_KEY_INVALID)
        return acct

    def the_list(acct: Account, request: Request) -> AudienceList:
        lst = acct.lists.get(request.path_params["list_id"])
        if lst is None:
            raise not_found()
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
            raise schema_type_error("", "object", body)
        dc = body.get("dc") or "us1"
        if not isinstance(dc, str) or not valid_dc(dc):
            raise invalid_field("dc", "dc must look like us1, us21, eu1 …")
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
            raise schema_type_error("", "object", body)
        lst = create_list(
            acct, {**DEFAULT_LIST_SETTINGS, "name": "Audience", **body}, state.clock.now()
        )
        return _json(render_list(lst))

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
                    "merge_fields": merge_dict(lst, m.mf),
                    "tags": [segs[t].name for t in m.tags if t in segs],
                    "last_changed": iso(m.changed),
                    "unsubscribe_reason": m.get_extra("unsubscribe_reason"),
                    "compliance": m.compliance,
                    "contact_id": m.origin[::-1],
                    "confirmation_emails": lst.confirmations.get(m.origin[::-1], 0),
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
            raise ApiError(400, "JSON Parse Error", DETAIL_JSON) from None
        if not isinstance(rows, list):
            raise schema_type_error("members", "array", rows)
        out = bulk_load(state, lst, rows, state.clock.now())
        del rows
        if len(lst.members) >= 100_000:
            gc.freeze()  # a big, long-lived audience: keep it out of future GC passes
        return _json(out)

    @add("/_emulator/lists/{list_id}/members/{subscriber_hash}/events", "POST")
    async def events(request: Request) -> Response:
        acct = account(request)
        lst = the_list(acct, request)
        body = await _admin_body(request)
        if not isinstance(body, dict):
            raise schema_type_error("", "object", body)
        h = hash_from_path(request.path_params["subscriber_hash"])
        m = lst.members.get(h) if h else None
        kind = body.get("type")
        if kind not in MEMBER_EVENTS:
            raise enum_error("type", MEMBER_EVENTS)
        email = body.get("email_address")
        if m is None and kind == "subscribe" and isinstance(email, str) and subscriber_hash(email) == h:
            m = signup(lst, email, body, state.clock.now())  # a new person on the signup form
            source = "user"
        elif m is None:
            raise not_found()
        else:
            source = member_event(lst, m, kind, body, state.clock.now())
        emu.webhooks.flush([lst], source)
        return _json(render_member(lst, m))

    @add("/_emulator/lists/{list_id}/webhook-deliveries", "GET")
    async def deliveries(request: Request) -> Response:
        lst = the_list(account(request), request)
        return _json({"deliveries": lst.deliveries, "total_items": len(lst.deliveries)})

    @add("/_emulator/lists/{list_id}/members/{subscriber_hash}/tags", "POST")
    async def admin_tags(request: Request) -> Response:
        acct = account(request)
        lst = the_list(acct, request)
        body = await _admin_body(request)
        h = hash_from_path(request.path_params["subscriber_hash"])
        m = lst.members.get(h) if h else None
        if m is None:
            raise not_found()
        now = state.clock.now()
        for name in body.get("add", []):
            check_tag_name(name, "add")
            lst.add_tag(m, lst.tag_segment(name.strip(), now, state.next_segment_id), now)
        for name in body.get("remove", []):
            seg = lst.seg_by_name.get(str(name).strip().lower())
            if seg is not None:
                lst.remove_tag(m, seg, now)
        return _json(render_member(lst, m))

    @add("/_emulator/campaigns", "POST")
    async def campaigns(request: Request) -> Response:
        acct = account(request)
        body = await _admin_body(request)
        if not isinstance(body, dict):
            raise schema_type_error("", "object", body)
        c = new_campaign(acct, body, state.clock.now())
        return _json(render_campaign(acct, c))

    @add("/_emulator/campaigns/{campaign_id}", "PATCH", "DELETE")
    async def campaign(request: Request) -> Response:
        acct = account(request)
        c = acct.campaigns.get(request.path_params["campaign_id"])
        if c is None:
            raise not_found()
        if request.method == "DELETE":
            del acct.campaigns[c["id"]]
            return Response(status_code=204)
        body = await _admin_body(request)
        if not isinstance(body, dict):
            raise schema_type_error("", "object", body)
        apply_campaign_fields(acct, c, body, state.clock.now())
        return _json(render_campaign(acct, c))

    @add("/_emulator/stats", "GET")
    async def stats(request: Request) -> Response:
        acct = account(request, required=False)
        out = (acct.stats if acct else emu.stats).as_dict()
        if acct is not None:  # double opt-in emails Mailchimp sent, by member email
            out["confirmation_emails"] = {
                m.email: n
                for lst in acct.lists.values()
                for cid, n in lst.confirmations.items()
                if (m := _by_contact_id(lst, cid)) is not None
            }
        return _json(out)

    @add("/_emulator/faults", "GET", "POST")
    async def faults(request: Request) -> Response:
        acct = account(request, required=False)
        key = acct.key if acct else None
        if request.method == "GET":
            return _json(emu.faults.effective(key))
        body = await _admin_body(request)
        if not isinstance(body, dict):
            raise schema_type_error("", "object", body)
        clear = bool(body.pop("clear", False))
        try:
            return _json(emu.faults.configure(key, body, clear=clear))
        except ValueError as exc:
            raise invalid_field("faults", str(exc)) from None

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
                raise invalid_field("advance_seconds", "must be a non-negative number")
            state.clock.advance(int(seconds))
        return _json({"now": iso(state.clock.now())})

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
            raise not_found()
        return Response(archive, media_type="application/x-gzip")

    return Starlette(routes=routes)
