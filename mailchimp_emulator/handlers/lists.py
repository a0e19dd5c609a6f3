"""Audiences: ``/lists``, ``/lists/{id}`` and batch subscribe."""

from __future__ import annotations

from typing import Any

from ..batch_subscribe import batch_subscribe
from ..emails import email_problem, subscriber_hash
from ..errors import DETAIL_BAD_EMAIL, invalid_field, required_missing, schema_type_error
from ..model import Account, AudienceList, new_id
from ..rendering import render_list
from .base import (
    Call,
    RawJSON,
    Result,
    body_dict,
    flag,
    get_list,
    is_shaped,
    page,
    requested_fields,
)

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
            raise required_missing("", missing)
    for key, required in (
        ("contact", _CONTACT_REQUIRED),
        ("campaign_defaults", _DEFAULTS_REQUIRED),
    ):
        if key in body:
            value = body[key]
            if not isinstance(value, dict):
                raise schema_type_error(key, "object", value)
            missing = [k for k in required if k not in value]
            if missing:
                raise required_missing(key, missing)
    if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
        raise invalid_field("name", "Please enter a name for this audience")
    if "email_type_option" in body and not isinstance(body["email_type_option"], bool):
        raise schema_type_error("email_type_option", "boolean", body["email_type_option"])
    if "campaign_defaults" in body:
        from_email = body["campaign_defaults"]["from_email"]
        if not isinstance(from_email, str) or email_problem(from_email) == DETAIL_BAD_EMAIL:
            raise invalid_field("campaign_defaults.from_email", DETAIL_BAD_EMAIL)


def create_list(acct: Account, body: Any, now: int) -> AudienceList:
    """Validate a ``POST /lists`` body and create the audience."""
    if not isinstance(body, dict):
        raise schema_type_error("", "object", body)
    _validate_list_settings(body, partial=False)
    lst = AudienceList(new_id(acct.lists), dict(body), now)
    acct.lists[lst.id] = lst
    return lst


def h_lists_get(call: Call) -> Result:
    count, offset = page(call.query)
    lists = list(call.acct.lists.values())
    email = call.query.get("email")
    if email:
        h = subscriber_hash(email)
        lists = [lst for lst in lists if h in lst.members]
    if call.query.get("sort_dir", "").upper() == "DESC":
        lists.reverse()
    return 200, {
        "lists": [render_list(lst) for lst in lists[offset : offset + count]],
        "total_items": len(lists),
        "constraints": {
            "may_create": True,
            "max_instances": 100,
            "current_total_instances": len(call.acct.lists),
        },
        "_links": [],
    }


def h_lists_create(call: Call) -> Result:
    return 200, render_list(create_list(call.acct, call.body, call.now))


def h_list_get(call: Call) -> Result:
    return 200, render_list(get_list(call))


def h_list_patch(call: Call) -> Result:
    lst = get_list(call)
    body = body_dict(call)
    _validate_list_settings(body, partial=True)
    lst.settings.update(body)
    return 200, render_list(lst)


def h_list_delete(call: Call) -> Result:
    get_list(call)
    del call.acct.lists[call.params["list_id"]]
    return 204, None


def h_batch_subscribe(call: Call) -> Result:
    lst = get_list(call)
    result = batch_subscribe(
        call.emu.state,
        lst,
        call.body,
        flag(call.query, "skip_merge_validation"),
        flag(call.query, "skip_duplicate_check"),
        call.now,
    )
    return 200, (result.render(lst, requested_fields(call)) if is_shaped(call) else RawJSON(result.json(lst)))

