"""A pure model of pushing a plan: the member state a push of `plan` leaves behind.

Used by tests (convergence: diff → apply → diff is empty) and by reliability tests that fail
some rows. It follows the state-keeping rules of the push: a row's payload hash is recorded
only when Mailchimp accepted it; an unconfirmed create stays `creating`; an update keeps the
status; tags are recorded only for members that exist.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

from mc_pipelines.sync.diff import AudiencePlan

STATE_COLUMNS = (
    "subscriber_hash", "contact_id", "email", "payload_hash", "status", "managed", "managed_tags",
)


def state_from_desired(desired: pd.DataFrame, status: str = "subscribed") -> pd.DataFrame:
    """The state a perfect push of `desired` leaves: every row managed, hash and tags recorded."""
    return pd.DataFrame({
        "subscriber_hash": desired["subscriber_hash"].to_numpy(dtype=object),
        "contact_id": desired["contact_id"].astype("Int64").to_numpy(),
        "email": desired["email"].to_numpy(dtype=object),
        "payload_hash": desired["payload_hash"].to_numpy(dtype=object),
        "status": status,
        "managed": True,
        "managed_tags": [list(t) for t in desired["managed_tags"].tolist()],
    }, columns=list(STATE_COLUMNS))


def apply_plan(
    state: pd.DataFrame, plan: AudiencePlan, failed: Collection[str] = ()
) -> pd.DataFrame:
    """The state after pushing `plan`; rows whose subscriber hash is in `failed` fail every write.

    A failed create leaves the row `creating` (sent, not confirmed); a failed update leaves its
    payload hash None (retried next run); a failed unsubscribe or tag move changes nothing.
    """
    failed = set(failed)
    rows: dict[str, dict] = {}
    for row in state.to_dict("records"):
        tags = row.get("managed_tags")
        row["managed_tags"] = [] if tags is None or isinstance(tags, float) else list(tags)
        row.setdefault("managed", True)
        rows[row["subscriber_hash"]] = row

    for h, cid, email, payload in _columns(plan.creates, "contact_id", "email", "payload_hash"):
        row = rows.setdefault(h, {"managed": True, "managed_tags": []})
        row.update(subscriber_hash=h, contact_id=cid, email=email)
        if h in failed:
            row.update(status="creating", payload_hash=None)
        else:
            row.update(status="subscribed", payload_hash=payload)
    for h, cid, email, payload in _columns(plan.updates, "contact_id", "email", "payload_hash"):
        if h in failed:
            rows[h]["payload_hash"] = None
        else:
            rows[h].update(contact_id=cid, email=email, payload_hash=payload)
    for (h,) in _columns(plan.unsubscribes):
        if h not in failed:
            rows[h]["status"] = "unsubscribed"
    for h, tag in _columns(plan.tag_adds, "tag"):
        row = rows.get(h)
        exists = row is not None and row.get("status") != "creating"
        if exists and h not in failed and tag not in row["managed_tags"]:
            row["managed_tags"].append(tag)
    for h, tag in _columns(plan.tag_removes, "tag"):
        row = rows.get(h)
        if row is not None and h not in failed and tag in row["managed_tags"]:
            row["managed_tags"].remove(tag)

    out = pd.DataFrame(list(rows.values()))
    if out.empty:
        out = pd.DataFrame({c: pd.Series([], dtype=object) for c in STATE_COLUMNS})
    extra = [c for c in out.columns if c not in STATE_COLUMNS]
    out = out[[*STATE_COLUMNS, *extra]]
    out["contact_id"] = out["contact_id"].astype("Int64")
    out["managed"] = out["managed"].astype(bool)
    return out.reset_index(drop=True)


def _columns(frame: pd.DataFrame, *names: str) -> zip:
    """Rows of (subscriber_hash, *names) as tuples."""
    return zip(*(frame[c].tolist() for c in ("subscriber_hash", *names)), strict=True)
