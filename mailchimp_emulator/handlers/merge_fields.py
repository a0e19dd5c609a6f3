"""``/lists/{id}/merge-fields``."""

from __future__ import annotations

import re

from ..errors import ApiError, enum_error, invalid_field, not_found, required_missing
from ..model import _TAG_RE, MERGE_TYPES
from .base import Call, Result, body_dict, flag, get_list, page


def h_merge_fields_get(call: Call) -> Result:
    lst = get_list(call)
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
    lst = get_list(call)
    for f in lst.merge_fields:
        if str(f["merge_id"]) == call.params["merge_id"]:
            return 200, {**f, "_links": []}
    raise not_found()


def h_merge_fields_post(call: Call) -> Result:
    lst = get_list(call)
    body = body_dict(call)
    missing = [k for k in ("name", "type") if not body.get(k)]
    if missing:
        raise required_missing("", missing)
    if body["type"] not in MERGE_TYPES:
        raise enum_error("type", MERGE_TYPES)
    tag = body.get("tag")
    if tag is None or tag == "":
        base = re.sub(r"[^A-Z0-9]", "", str(body["name"]).upper())[:10]
        tag = base if base and base not in lst.mf_index else f"MMERGE{lst.next_merge_id}"
    if not isinstance(tag, str) or not _TAG_RE.match(tag) or tag == "EMAIL":
        raise invalid_field(
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
            raise invalid_field("options.choices", "Please provide the choices for this field")
    field = lst.add_merge_field({**body, "tag": tag})
    lst.version += 1
    return 200, {**field, "_links": []}


