"""Batch subscribe (``POST /lists/{id}``): up to 500 members per call."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from .emails import email_problem, subscriber_hash
from .errors import (
    DETAIL_MERGE_INVALID,
    MAX_BATCH,
    STATUSES,
    ApiError,
    detail_contact_exists,
    detail_forgotten,
    invalid_field,
    required_missing,
    schema_type_error,
)
from .members import apply_tag_names, check_member_schema, new_member, update_member
from .merge_fields import MergeError, merge_values
from .model import AudienceList, EmulatorState, Member
from .rendering import members_json, render_member_keys


def _row_error(
    email: str, error: str, code: str = "ERROR_GENERIC", field: str = "", field_message: str = ""
) -> dict[str, str]:
    return {
        "email_address": email,
        "error": error,
        "error_code": code,
        "field": field,
        "field_message": field_message,
    }


_BATCH_STATUS_FIELDS = ("status",)


def batch_subscribe(
    state: EmulatorState,
    lst: AudienceList,
    body: Any,
    skip_merge: bool,
    skip_duplicates: bool,
    now: int,
) -> BatchResult:
    """``POST /lists/{id}``: up to 500 members; per-row outcomes, HTTP 200 even if all fail.

    Schema problems (missing ``members``, > 500 members, a row without ``email_address`` or
    with a bad ``status``) fail the whole call; everything else is a per-row error."""
    if not isinstance(body, dict) or "members" not in body:
        raise required_missing("", ["members"])
    rows = body["members"]
    if not isinstance(rows, list):
        raise schema_type_error("members", "array", rows)
    if len(rows) > MAX_BATCH:
        raise invalid_field(
            "members", f"You may only submit up to {MAX_BATCH} members per batch request."
        )
    for key in ("update_existing", "sync_tags"):
        if key in body and not isinstance(body[key], bool):
            raise schema_type_error(key, "boolean", body[key])
    update_existing = body.get("update_existing", False)
    sync_tags = body.get("sync_tags", False)
    for i, row in enumerate(rows):
        prefix = f"members.item:{i}."
        check_member_schema(row, prefix, STATUSES, _BATCH_STATUS_FIELDS)
        missing = [k for k in ("email_address", "status") if k not in row]
        if missing:
            raise required_missing(f"members.item:{i}", missing)
    new_members: list[Member] = []
    updated: list[Member] = []
    errors: list[dict[str, str]] = []
    seen: set[str] = set()
    members = lst.members
    for row in rows:
        email = row["email_address"]
        problem = email_problem(email)
        if problem:
            errors.append(_row_error(email, problem))
            continue
        h = subscriber_hash(email)
        if h in seen:
            if not skip_duplicates:
                errors.append(
                    _row_error(email, f"{email} is included more than once in this request")
                )
            continue
        seen.add(h)
        if h in lst.forgotten:
            errors.append(_row_error(email, detail_forgotten(email)))
            continue
        m = members.get(h)
        target = row["status"]
        try:
            if m is None:
                mf = merge_values(lst, row.get("merge_fields"), None, skip_merge)
                m = new_member(lst, h, email, target, mf, row, now)
                out = new_members
            elif m.status == "archived":
                update_member(lst, m, row, target, skip_merge, now)
                out = new_members
            elif not update_existing:
                errors.append(
                    _row_error(email, detail_contact_exists(email), "ERROR_CONTACT_EXISTS")
                )
                continue
            else:
                update_member(lst, m, row, target, skip_merge, now)
                out = updated
        except MergeError as exc:
            first = exc.errors[0]
            errors.append(
                _row_error(
                    email,
                    DETAIL_MERGE_INVALID,
                    field=first["field"],
                    field_message=first["message"],
                )
            )
            continue
        except ApiError as exc:
            first = (exc.errors or [{}])[0]
            errors.append(
                _row_error(
                    email,
                    exc.detail,
                    field=first.get("field", ""),
                    field_message=first.get("message", ""),
                )
            )
            continue
        if sync_tags or row.get("tags"):
            apply_tag_names(state, lst, m, row.get("tags") or (), now, replace=sync_tags)
        out.append(m)
    return BatchResult(new_members, updated, errors)


class BatchResult(NamedTuple):
    """Outcome of a batch subscribe: members created/updated and per-row errors."""

    new: list[Member]
    updated: list[Member]
    errors: list[dict[str, str]]

    def render(self, lst: AudienceList, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The response document; `fields` (the `fields` query as a tree) may spare rendering the
        member keys it does not ask for (the answer is shaped by it afterwards anyway)."""
        def keys(name: str) -> list[str] | None:
            wanted = (fields or {}).get(name)
            return list(wanted) if wanted else None

        new_keys, updated_keys = keys("new_members"), keys("updated_members")
        return {
            "new_members": [render_member_keys(lst, m, new_keys) for m in self.new],
            "updated_members": [render_member_keys(lst, m, updated_keys) for m in self.updated],
            "errors": self.errors,
            "total_created": len(self.new),
            "total_updated": len(self.updated),
            "error_count": len(self.errors),
            "_links": [],
        }

    def json(self, lst: AudienceList) -> str:
        """The response document serialized directly (same content as :meth:`render`)."""
        return (
            f'{{"new_members":{members_json(lst, self.new)},'
            f'"updated_members":{members_json(lst, self.updated)},'
            f'"errors":{json.dumps(self.errors, ensure_ascii=False)},'
            f'"total_created":{len(self.new)},"total_updated":{len(self.updated)},'
            f'"error_count":{len(self.errors)},"_links":[]}}'
        )


