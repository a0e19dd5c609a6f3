"""Bulk load (admin; not part of Mailchimp)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .clock import parse_time
from .emails import subscriber_hash
from .errors import ALL_STATUSES, DETAIL_BAD_EMAIL, enum_error, invalid_field, schema_type_error
from .members import apply_tag_names, fresh_member
from .model import AudienceList, EmulatorState

# --------------------------------------------------------------------------------------------
# Bulk load (admin; not part of Mailchimp)
# --------------------------------------------------------------------------------------------


def bulk_load(
    state: EmulatorState, lst: AudienceList, rows: Iterable[Any], now: int
) -> dict[str, int]:
    """Insert or overwrite members with only basic checks (email has an ``@``, status valid).

    Rows: ``{"email_address", "status"="subscribed", "merge_fields"={}, "tags"=[],
    "last_changed"=now}``; merge values are stored as given for known tags."""
    created = updated = 0
    members = lst.members
    index = lst.mf_index
    nfields = len(lst.merge_fields)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise schema_type_error(f"members.item:{i}", "object", row)
        email = row.get("email_address")
        if not isinstance(email, str) or "@" not in email:
            raise invalid_field(f"members.item:{i}.email_address", DETAIL_BAD_EMAIL)
        status = row.get("status", "subscribed")
        if status not in ALL_STATUSES:
            raise enum_error(f"members.item:{i}.status", ALL_STATUSES)
        mfin = row.get("merge_fields") or {}
        if mfin:
            values = [""] * nfields
            for tag, value in mfin.items():
                pos = index.get(tag)
                if pos is not None:
                    values[pos] = value
            while values and values[-1] == "":
                values.pop()
            mf = tuple(values)
        else:
            mf = ()
        ts = now
        if row.get("last_changed"):
            ts = min(now, int(parse_time(str(row["last_changed"]), "last_changed")))
        h = subscriber_hash(email)
        m = members.get(h)
        if m is None:
            m = fresh_member(h, email, status, mf, ts)
            lst.insert(m)
            created += 1
        else:
            if m.status != status:
                lst.set_status(m, status, ts)
            m.email = email
            m.mf = mf
            if m.changed != ts:
                m.changed = ts
                lst.log_m.append(m)
                lst.log_ts.append(ts)
                lst.log_dirty = True
            lst.version += 1
            updated += 1
        tags = row.get("tags")
        if tags:
            apply_tag_names(state, lst, m, tags, ts, replace=False)
        lst.forgotten.discard(h)
    return {"loaded": created + updated, "created": created, "updated": updated}
