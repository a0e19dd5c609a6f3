"""The plan for one audience: desired state vs what was last pushed (`mailchimp_member_state`).

Safety rules the plan obeys (and the property tests check):
- creates come only from desired rows (the consented cohort) that Mailchimp does not hold yet;
- an update carries the member's *current* Mailchimp status, so it never flips a status, and
  members in cleaned/archived/transactional status are not updated at all;
- members that existed before the project (`managed` false) are never touched;
- only the project's own tags (`managed_tags` columns) are ever added or removed.

Rows whose last push failed (`payload_hash` None) are updated again even if nothing changed;
rows whose create was never confirmed (`creating`) are created again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MAILCHIMP_STATUSES = frozenset(
    {"subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"}
)
LOCAL_STATUSES = frozenset({"creating", "unknown"})
# Statuses an update may carry back unchanged (batch subscribe accepts them as `status`).
UPDATABLE_STATUSES = frozenset({"subscribed", "unsubscribed", "pending"})
# Members who may be receiving email and must be explicitly unsubscribed when they leave.
# `creating` and `unknown` are included on purpose: the member may exist as subscribed.
UNSUBSCRIBE_STATUSES = frozenset({"subscribed", "pending", "creating", "unknown"})
# Members that cannot take tags (bounced or archived) or may not exist (unknown).
NO_TAG_ADD_STATUSES = frozenset({"cleaned", "archived", "unknown"})

REASONS: dict[str, str] = {
    "unmanaged": "existed in Mailchimp before the project; never touched",
    "status_cleaned": "address bounced (cleaned) in Mailchimp; not updated",
    "status_archived": "archived in Mailchimp; not re-added or updated",
    "status_transactional": "transactional member in Mailchimp; not changed to marketing",
    "status_unknown": "current Mailchimp status unknown; waits for the member-status pull",
    "email_changed": "the contact now uses another address",
    "left_audience": "the contact left the segments that feed this audience",
    "not_in_cohort": "consent withdrawn, contact deleted, or address invalid or duplicate",
    "not_desired": "no longer in the desired audience",
}

CREATE_COLUMNS = ("subscriber_hash", "contact_id", "email", "merge_fields", "payload_hash")
UPDATE_COLUMNS = (*CREATE_COLUMNS, "status")
UNSUBSCRIBE_COLUMNS = ("subscriber_hash", "contact_id", "email", "reason")
TAG_COLUMNS = ("tag", "email", "subscriber_hash", "contact_id")
SKIPPED_COLUMNS = ("subscriber_hash", "contact_id", "email", "reason")


@dataclass
class AudiencePlan:
    """What to send to one audience.

    `creates` (`CREATE_COLUMNS`): batch subscribe, update_existing false, status subscribed.
    `updates` (`UPDATE_COLUMNS`): batch subscribe, update_existing true, with `status`.
    `unsubscribes` (`UNSUBSCRIBE_COLUMNS`): explicit unsubscribes; `reason` is a `REASONS` key.
    `tag_adds` / `tag_removes` (`TAG_COLUMNS`): static-segment member moves, per tag.
    `skipped` (`SKIPPED_COLUMNS`): rows deliberately not sent; `reason` is a `REASONS` key.
    `contact_id` is int64 in creates/updates and nullable Int64 elsewhere (state rows of
    pre-existing members may have none).
    """

    audience_id: str | None
    creates: pd.DataFrame
    updates: pd.DataFrame
    unsubscribes: pd.DataFrame
    tag_adds: pd.DataFrame
    tag_removes: pd.DataFrame
    skipped: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def write_rows(self) -> int:
        """Rows that need a Mailchimp write (every kind except skipped)."""
        return (len(self.creates) + len(self.updates) + len(self.unsubscribes)
                + len(self.tag_adds) + len(self.tag_removes))

    @property
    def is_empty(self) -> bool:
        """True when nothing needs writing (skipped rows may remain)."""
        return self.write_rows == 0


def diff_audience(
    desired: pd.DataFrame,
    state: pd.DataFrame,
    known_contact_ids: Iterable[int] | None = None,
) -> AudiencePlan:
    """Plan the writes that bring one audience from `state` to `desired`.

    `desired`: rows of `desired_members` for this audience. `state`: that audience's
    `mailchimp_member_state` rows (`subscriber_hash`, `contact_id`, `email`, `payload_hash`,
    `status`, `managed`, `managed_tags`). `known_contact_ids` (optional, the whole cohort's
    contact ids) only refines unsubscribe reasons: `left_audience` vs `not_in_cohort`.
    """
    audience_id = _single_audience(desired, state)
    d_hash = desired["subscriber_hash"].to_numpy(dtype=object)
    s_hash = state["subscriber_hash"].to_numpy(dtype=object)
    s_index = pd.Index(s_hash)
    if not s_index.is_unique:
        raise ValueError("state has several rows for one subscriber hash")
    if desired["subscriber_hash"].duplicated().any():
        raise ValueError("desired has several rows for one subscriber hash")
    pos = s_index.get_indexer(d_hash)
    in_state = pos >= 0

    status = _canonical_statuses(state["status"])
    managed = (state["managed"].to_numpy(dtype=bool, na_value=True)
               if "managed" in state.columns else np.ones(len(state), dtype=bool))
    s_payload = state["payload_hash"].to_numpy(dtype=object)
    s_tags = _tag_tuples(state["managed_tags"])
    # Normalised on both sides: an IO round trip may turn tuples into lists or arrays.
    d_tags = _tag_tuples(desired["managed_tags"])
    d_payload = desired["payload_hash"].to_numpy(dtype=object)

    # The state's view of each desired row (neutral values where the row is not in state).
    d_status = _gather(status, pos, "")
    d_managed = _gather(managed, pos, True).astype(bool)
    d_state_payload = _gather(s_payload, pos, None)
    d_state_tags = _gather(s_tags, pos, ())

    unmanaged = in_state & ~d_managed
    ours = in_state & d_managed
    create = ~in_state | (ours & (d_status == "creating"))
    payload_changed = ours & ~_same_hash(d_payload, d_state_payload)
    updatable = _isin(d_status, UPDATABLE_STATUSES)
    update = ours & updatable & payload_changed
    can_add_tags = create | (ours & ~_isin(d_status, NO_TAG_ADD_STATUSES))
    tags_changed = ~in_state | ours
    tags_changed[tags_changed] = _differs(d_tags[tags_changed], d_state_tags[tags_changed])

    # State rows that are not desired any more.
    leaving = np.ones(len(state), dtype=bool)
    leaving[pos[in_state]] = False
    leaving &= managed
    unsubscribe = leaving & _isin(status, UNSUBSCRIBE_STATUSES)

    tag_adds, tag_removes, adds_pending = _tag_moves(
        desired, state, tags_changed, can_add_tags, d_tags, d_state_tags, leaving, s_tags
    )
    stuck = ours & ~create & ~updatable & (payload_changed | (adds_pending & ~can_add_tags))

    creates = _frame(desired, create, CREATE_COLUMNS)
    updates = _frame(desired, update, CREATE_COLUMNS, status=d_status[update])
    leaver_ids = pd.array(state["contact_id"].to_numpy()[unsubscribe], dtype="Int64")
    unsubscribes = _frame(
        state, unsubscribe, ("subscriber_hash",), contact_id=leaver_ids,
        email=state["email"].to_numpy(dtype=object)[unsubscribe],
        reason=_leave_reasons(leaver_ids, desired["contact_id"], known_contact_ids),
    )

    skipped = _skipped(desired, unmanaged, stuck, d_status)

    unchanged = int((in_state & ~create & ~update & ~tags_changed & ~stuck & ~unmanaged).sum())
    counts = {
        "desired": len(desired),
        "state": len(state),
        "creates": len(creates),
        "updates": len(updates),
        "unsubscribes": len(unsubscribes),
        "tag_adds": len(tag_adds),
        "tag_removes": len(tag_removes),
        "skipped": len(skipped),
        "unchanged": unchanged,
    }
    return AudiencePlan(audience_id, creates, updates, unsubscribes, tag_adds, tag_removes,
                        skipped, counts)


def _single_audience(desired: pd.DataFrame, state: pd.DataFrame) -> str | None:
    audiences: set[str] = set()
    for frame in (desired, state):
        if "audience_id" in frame.columns and len(frame):
            audiences.update(pd.unique(frame["audience_id"]).tolist())
    if len(audiences) > 1:
        raise ValueError(
            "diff_audience plans one audience at a time; got "
            + ", ".join(sorted(map(str, audiences)))
        )
    return next(iter(audiences), None)


def _canonical_statuses(values: pd.Series) -> np.ndarray:
    """State statuses as an object array; anything unrecognised (None, typos) is `unknown`."""
    codes, uniques = pd.factorize(values)
    known = MAILCHIMP_STATUSES | LOCAL_STATUSES
    mapped = [u if u in known else "unknown" for u in uniques]
    lookup = np.array([*mapped, "unknown"], dtype=object)  # code -1 (missing) → unknown
    return lookup[codes]


def _gather(values: np.ndarray, pos: np.ndarray, missing: object) -> np.ndarray:
    """`values[pos]` with `missing` where `pos` is -1 (row not in state)."""
    out = np.empty(len(pos), dtype=values.dtype if values.dtype != object else object)
    hit = pos >= 0
    out[hit] = values[pos[hit]]
    filler = np.empty(1, dtype=object)
    filler[0] = missing  # keeps a tuple a scalar instead of a sequence to broadcast
    out[~hit] = filler[0] if values.dtype != object else filler[np.zeros((~hit).sum(), np.intp)]
    return out


def _isin(values: np.ndarray, wanted: frozenset[str]) -> np.ndarray:
    # pandas' hash-table isin: one C pass instead of a Python `in` per row
    return pd.Series(values, dtype=object, copy=False).isin(list(wanted)).to_numpy(dtype=bool)


def _same_hash(desired: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Elementwise equality of payload hashes; a missing state hash never matches."""
    valid = pd.notna(state)
    return valid & (desired == np.where(valid, state, ""))


def _tag_tuples(values: pd.Series) -> np.ndarray:
    """`managed_tags` (tuples, lists, arrays, JSON text or None) as sorted tuples; few distinct
    combinations exist, so each is sorted once.

    Rows mostly share their cell objects (the state reader parses each distinct JSON text once,
    `desired_members` builds one tuple per tag pattern, unpickling keeps the sharing), so cells
    are grouped by object identity first and each distinct object is converted once: the same
    object always holds the same value, and every object stays alive in `items` meanwhile."""
    items = values.tolist()
    if not items:
        return np.empty(0, dtype=object)
    ids = np.fromiter(map(id, items), dtype=np.uint64, count=len(items))
    codes, uniques = pd.factorize(ids)
    _, first = np.unique(codes, return_index=True)
    cache: dict[tuple, tuple] = {}
    converted = np.empty(len(uniques), dtype=object)
    for code, pos in enumerate(first.tolist()):
        v = items[pos]
        if v is None or (isinstance(v, float) and v != v):
            key: tuple = ()
        elif isinstance(v, str):  # JSON text that was not parsed
            key = tuple(_parse_tags(v))
        else:
            key = tuple(v)
        t = cache.get(key)
        if t is None:
            t = cache[key] = tuple(sorted(set(key)))
        converted[code] = t
    return converted[codes]


def _parse_tags(text: str) -> list[str]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return [text]
    return [str(t) for t in parsed] if isinstance(parsed, list) else [str(parsed)]


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.fromiter((x != y for x, y in zip(a, b, strict=True)), dtype=bool, count=len(a))


def _frame(
    source: pd.DataFrame, mask: np.ndarray, columns: Iterable[str], **extra: object
) -> pd.DataFrame:
    """The masked `columns` of `source` plus `extra` columns (already masked)."""
    data: dict[str, object] = {c: source[c].to_numpy()[mask] for c in columns}
    data.update(extra)
    return pd.DataFrame(data, copy=False)


def _leave_reasons(
    contact_ids: pd.api.extensions.ExtensionArray, desired_ids: pd.Series,
    known: Iterable[int] | None,
) -> list[str]:
    desired_set = set(desired_ids.tolist())
    known_set = set(known) if known is not None else None
    reasons = []
    for cid in contact_ids.tolist():
        if cid is not pd.NA and cid in desired_set:
            reasons.append("email_changed")
        elif known_set is None:
            reasons.append("not_desired")
        elif cid is not pd.NA and cid in known_set:
            reasons.append("left_audience")
        else:
            reasons.append("not_in_cohort")
    return reasons


def _tag_moves(
    desired: pd.DataFrame, state: pd.DataFrame, changed: np.ndarray, can_add: np.ndarray,
    d_tags: np.ndarray, d_state_tags: np.ndarray, leaving: np.ndarray, s_tags: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    adds: list[tuple] = []
    removes: list[tuple] = []
    adds_pending = np.zeros(len(desired), dtype=bool)
    rows = np.flatnonzero(changed)
    emails = desired["email"].to_numpy(dtype=object)
    hashes = desired["subscriber_hash"].to_numpy(dtype=object)
    cids = desired["contact_id"].to_numpy(dtype=object)
    for i in rows.tolist():
        want, have = set(d_tags[i]), set(d_state_tags[i])
        adds_pending[i] = bool(want - have)
        if can_add[i]:
            adds.extend((t, emails[i], hashes[i], cids[i]) for t in want - have)
        removes.extend((t, emails[i], hashes[i], cids[i]) for t in have - want)
    s_emails = state["email"].to_numpy(dtype=object)
    s_hashes = state["subscriber_hash"].to_numpy(dtype=object)
    s_cids = state["contact_id"].to_numpy(dtype=object)
    for i in np.flatnonzero(leaving).tolist():
        removes.extend((t, s_emails[i], s_hashes[i], s_cids[i]) for t in s_tags[i])
    return _tag_frame(adds), _tag_frame(removes), adds_pending


def _tag_frame(rows: list[tuple]) -> pd.DataFrame:
    rows.sort(key=lambda r: (r[0], r[2]))  # by tag, then subscriber hash
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return pd.DataFrame({
        "tag": np.array(columns[0], dtype=object),
        "email": np.array(columns[1], dtype=object),
        "subscriber_hash": np.array(columns[2], dtype=object),
        "contact_id": pd.array(list(columns[3]), dtype="Int64"),
    }, copy=False)


def _skipped(
    desired: pd.DataFrame, unmanaged: np.ndarray, stuck: np.ndarray, d_status: np.ndarray
) -> pd.DataFrame:
    mask = unmanaged | stuck
    reasons = [
        "unmanaged" if u else f"status_{st}"
        for u, st in zip(unmanaged[mask].tolist(), d_status[mask].tolist(), strict=True)
    ]
    return _frame(
        desired, mask, ("subscriber_hash",),
        contact_id=pd.array(desired["contact_id"].to_numpy()[mask], dtype="Int64"),
        email=desired["email"].to_numpy(dtype=object)[mask],
        reason=np.array(reasons, dtype=object),
    )
