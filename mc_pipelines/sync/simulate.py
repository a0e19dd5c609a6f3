"""A pure model of pushing a plan: the member state a push of `plan` leaves behind.

Used by tests (convergence: diff → apply → diff is empty) and by reliability tests that fail
some rows. It follows the state-keeping rules of the push: a row's payload hash is recorded only
when Mailchimp accepted it; a create whose answer never came keeps its `create` intent (the next
run reads it back); a field update keeps the status; a status change sets the status it asked
for, made by the project; tags are recorded only for members that exist.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import pandas as pd

from mc_pipelines.sync import lifecycle as lc
from mc_pipelines.sync.diff import STATE_COLUMNS, AudiencePlan

_ROW_DEFAULTS = {"ownership": lc.CREATED, "status_origin": lc.PROJECT, "intent": None,
                 "prior_tags": [], "parked": None, "moved_from_hash": None}


def state_from_desired(desired: pd.DataFrame, status: str = "subscribed") -> pd.DataFrame:
    """The state a perfect push of `desired` leaves: every row created, hash and tags recorded."""
    n = len(desired)
    return pd.DataFrame({
        "subscriber_hash": desired["subscriber_hash"].to_numpy(dtype=object),
        "contact_id": desired["contact_id"].astype("Int64").to_numpy(),
        "email": desired["email"].to_numpy(dtype=object),
        "payload_hash": desired["payload_hash"].to_numpy(dtype=object),
        "status": status,
        "ownership": lc.CREATED,
        "status_origin": lc.PROJECT,
        "intent": [None] * n,
        "managed_tags": [list(t) for t in desired["managed_tags"].tolist()],
        "prior_tags": [[] for _ in range(n)],
        "parked": [None] * n,
        "moved_from_hash": [None] * n,
    }, columns=list(STATE_COLUMNS))


def apply_plan(
    state: pd.DataFrame, plan: AudiencePlan, failed: Collection[str] = ()
) -> pd.DataFrame:
    """The state after pushing `plan`; rows whose subscriber hash is in `failed` fail every write
    with a lost answer (the write's intent stays, to be read back)."""
    failed = set(failed)
    rows: dict[str, dict] = {}
    for row in state.to_dict("records"):
        for column, default in _ROW_DEFAULTS.items():
            if column == "status_origin" and column in row:
                continue  # an unknown origin stays unknown: never taken for the project's own write
            if column not in row or (not isinstance(row[column], list | tuple) and pd.isna(row[column])):
                row[column] = default if not isinstance(default, list) else []
        tags = row.get("managed_tags")
        row["managed_tags"] = [] if tags is None or isinstance(tags, float) else list(tags)
        rows[row["subscriber_hash"]] = row

    for h, old, cid, email, payload in _columns(plan.email_changes, "old_hash", "contact_id", "email",
                                                "payload_hash"):
        if h not in failed and old in rows:
            moved = rows.pop(old)
            moved.update(subscriber_hash=h, contact_id=cid, email=email, payload_hash=payload)
            rows[h] = moved
    for h, cid, email, payload in _columns(plan.creates, "contact_id", "email", "payload_hash"):
        row = rows.setdefault(h, {**_ROW_DEFAULTS, "prior_tags": [], "managed_tags": []})
        row.update(subscriber_hash=h, contact_id=cid, email=email)
        if h in failed:
            row.update(ownership=lc.NO_MEMBER, status=lc.UNKNOWN, intent=lc.INTENT_CREATE,
                       payload_hash=None)
        else:
            row.update(ownership=lc.CREATED, status=lc.SUBSCRIBED, status_origin=lc.PROJECT,
                       intent=None, payload_hash=payload, parked=None)
    for h, cid, email, payload in _columns(plan.updates, "contact_id", "email", "payload_hash"):
        if h in failed:
            rows[h]["payload_hash"] = None
        else:
            rows[h].update(contact_id=cid, email=email, payload_hash=payload)
    changes = [(h, lc.UNSUBSCRIBED) for (h,) in _columns(plan.unsubscribes)]
    changes += list(_columns(plan.resubscribes, "status"))
    for h, status in changes:
        if h in failed:
            rows[h]["intent"] = {lc.UNSUBSCRIBED: lc.INTENT_UNSUBSCRIBE, lc.SUBSCRIBED: lc.INTENT_SUBSCRIBE,
                                 lc.PENDING: lc.INTENT_PENDING}[status]
        else:
            rows[h].update(status=status, status_origin=lc.PROJECT, intent=None)
    for h, tag in _columns(plan.tag_adds, "tag"):
        row = rows.get(h)
        exists = row is not None and row.get("ownership") != lc.NO_MEMBER
        if exists and h not in failed and tag not in row["managed_tags"]:
            row["managed_tags"].append(tag)
    for h, tag in _columns(plan.tag_removes, "tag"):
        row = rows.get(h)
        if row is not None and h not in failed:
            row["managed_tags"] = [t for t in row["managed_tags"] if t.casefold() != tag.casefold()]

    out = pd.DataFrame(list(rows.values()))
    if out.empty:
        out = pd.DataFrame({c: pd.Series([], dtype=object) for c in STATE_COLUMNS})
    extra = [c for c in out.columns if c not in STATE_COLUMNS]
    out = out[[*STATE_COLUMNS, *extra]]
    out["contact_id"] = out["contact_id"].astype("Int64")
    return out.reset_index(drop=True)


def read_back(state: pd.DataFrame, members: dict[str, dict] | None = None) -> pd.DataFrame:
    """The state after the push's read-back (`effects.readback`): every row with a pending intent
    or an unknown status resolved by `lifecycle.after_read` against `members` (hash → member as
    Mailchimp holds it; a missing hash is a member Mailchimp does not hold)."""
    members = members or {}
    rows = []
    for row in state.to_dict("records"):
        pending = row.get("intent") is not None and not pd.isna(row.get("intent"))
        unknown = row.get("ownership") in lc.OWNED and row.get("status") == lc.UNKNOWN
        if pending or unknown:
            row.update(lc.after_read(row, members.get(row["subscriber_hash"]),
                                     datetime(2026, 1, 1)).values)
        rows.append(row)
    out = pd.DataFrame(rows, columns=state.columns) if rows else state.copy()
    for column in out.columns:
        if column not in state.columns:
            out = out.drop(columns=column)
    return out


def _columns(frame: pd.DataFrame, *names: str) -> zip:
    """Rows of (subscriber_hash, *names) as tuples."""
    return zip(*(frame[c].tolist() for c in ("subscriber_hash", *names)), strict=True)
