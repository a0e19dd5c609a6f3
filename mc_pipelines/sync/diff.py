"""The sync plan of one audience: desired state vs what the project knows of each member.

The plan is a function of the lifecycle state (`sync.lifecycle`, one row per member the project
tracks in the audience), the desired state (`sync.desired`) and the audience's context (frozen or
not, explicit withdrawals, connection options, the mass-unsubscribe guard). The state is assumed
*resolved*: every pending intent and unknown status was read back from Mailchimp first (the push
does that), so each decision rests on a status just read.

What the plan does to each member (`LIFECYCLE.md`):
- desired, not in Mailchimp → create (A1); a create or an update refused before with the same
  data → parked, reported, not sent again (C5, C7);
- desired, created or linked, subscribed or pending → field updates without a status (B1, B7)
  and managed-tag moves; a linked member only with `existing_members=update` (B2);
- desired, unsubscribed by the project → re-subscribed (A7); opted out in Mailchimp → a double
  opt-in request (`reconsent=pending`) or a report (`report`) (A8); cleaned, archived,
  transactional → left alone and reported (B6);
- desired under a new address while the contact's member has the old one → the member's address
  is changed in place (B10); the person changed it in Mailchimp → the old one is never re-created
  (B9); a marketer archived the member → the new address is not created either (B6);
- not desired any more, subscribed or pending → unsubscribed when consent was withdrawn (created
  and linked, A3, B3); on other exits a created member is unsubscribed and a linked one only
  unlinked (B3); exits the configuration causes are held in frozen audiences (C1, C2), while
  withdrawals and deletions reach them; non-explicit exits are held by the guard (C4);
- a member Mailchimp never held is never written (C6); foreign members have no state (B4);
- tags: only managed tags move, compared case-insensitively (D3), never a tag the member had
  before the project applied it (D2) nor a marketer's (D1).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mc_pipelines.sync import lifecycle as lc

CREATE_COLUMNS = ("subscriber_hash", "contact_id", "email", "merge_fields", "payload_hash")
UPDATE_COLUMNS = CREATE_COLUMNS
EMAIL_CHANGE_COLUMNS = ("old_hash", "old_email", *CREATE_COLUMNS)
UNSUBSCRIBE_COLUMNS = ("subscriber_hash", "contact_id", "email", "reason", "explicit")
RESUBSCRIBE_COLUMNS = ("subscriber_hash", "contact_id", "email", "status")
TAG_COLUMNS = ("tag", "email", "subscriber_hash", "contact_id")
SKIPPED_COLUMNS = ("subscriber_hash", "contact_id", "email", "reason")
STATE_COLUMNS = ("subscriber_hash", "contact_id", "email", "payload_hash", "status", "ownership",
                 "status_origin", "intent", "managed_tags", "prior_tags", "parked",
                 "moved_from_hash")
PLAN_FRAMES = ("creates", "updates", "email_changes", "unsubscribes", "resubscribes",
               "tag_adds", "tag_removes", "skipped")


@dataclass
class AudiencePlan:
    """What to send to one audience (every frame keyed by subscriber hash, with contact ids).

    `creates`: batch subscribe, update_existing false, status subscribed (new members only).
    `updates`: merge fields, never a status. `email_changes`: the member at `old_hash` takes the
    new address. `unsubscribes`: explicit status changes to unsubscribed, with an
    `lifecycle.EXIT_REASONS` key and whether it is an explicit consent withdrawal.
    `resubscribes`: status changes to `subscribed` (A7) or `pending` (A8). `tag_adds` /
    `tag_removes`: static-segment moves of managed tags. `skipped`: rows deliberately not
    written as the app wants them, with a `lifecycle.REASONS` key (a double opt-in request, sent
    as a resubscribe, is listed here too: it waits for the person). `guard`: the mass-unsubscribe guard's figures.
    """

    audience_id: str | None
    creates: pd.DataFrame
    updates: pd.DataFrame
    email_changes: pd.DataFrame
    unsubscribes: pd.DataFrame
    resubscribes: pd.DataFrame
    tag_adds: pd.DataFrame
    tag_removes: pd.DataFrame
    skipped: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    guard: dict[str, int | bool] = field(default_factory=dict)

    @property
    def write_rows(self) -> int:
        """Rows that need a Mailchimp write (every frame except skipped)."""
        return sum(len(getattr(self, name)) for name in PLAN_FRAMES if name != "skipped")

    @property
    def is_empty(self) -> bool:
        """True when nothing needs writing (skipped rows may remain)."""
        return self.write_rows == 0


def standing_plan(audience_id: str | None, skipped: pd.DataFrame,
                  guard: dict[str, int | bool] | None = None) -> AudiencePlan:
    """A plan that writes nothing and lists `skipped` (what a settled org's sync reports)."""
    empty = {name: pd.DataFrame(columns=list(columns)) for name, columns in (
        ("creates", CREATE_COLUMNS), ("updates", UPDATE_COLUMNS),
        ("email_changes", EMAIL_CHANGE_COLUMNS), ("unsubscribes", UNSUBSCRIBE_COLUMNS),
        ("resubscribes", RESUBSCRIBE_COLUMNS), ("tag_adds", TAG_COLUMNS), ("tag_removes", TAG_COLUMNS))}
    return AudiencePlan(audience_id, **empty, skipped=skipped.reindex(columns=list(SKIPPED_COLUMNS)),
                        guard=dict(guard or {}))


def empty_state() -> pd.DataFrame:
    """A state frame with no rows and every column the diff reads."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in STATE_COLUMNS})


def diff_audience(
    desired: pd.DataFrame,
    state: pd.DataFrame,
    context: lc.AudienceContext | None = None,
) -> AudiencePlan:
    """Plan the writes that bring one audience from `state` to `desired` (see the module doc).

    `desired`: `desired_members` rows of this audience. `state`: that audience's resolved
    `mailchimp_member_state` rows (`STATE_COLUMNS`; missing lifecycle columns take their
    defaults: ownership `created`, no intent, no prior tags).
    """
    ctx = context or lc.AudienceContext()
    audience_id = _single_audience(desired, state)
    state = _with_defaults(state)
    if not pd.Index(state["subscriber_hash"]).is_unique:
        raise ValueError("state has several rows for one subscriber hash")
    if desired["subscriber_hash"].duplicated().any():
        raise ValueError("desired has several rows for one subscriber hash")
    return _Planner(desired, state, ctx, audience_id).plan()


class _Planner:
    """One audience's plan, built from vectorised masks; rare cases are handled row by row."""

    def __init__(self, desired: pd.DataFrame, state: pd.DataFrame, ctx: lc.AudienceContext,
                 audience_id: str | None) -> None:
        self.desired, self.state, self.ctx, self.audience_id = desired, state, ctx, audience_id
        self.d_hash = desired["subscriber_hash"].to_numpy(dtype=object)
        self.d_cid = desired["contact_id"].to_numpy()
        self.d_email = desired["email"].to_numpy(dtype=object)
        self.s_hash = state["subscriber_hash"].to_numpy(dtype=object)
        self.s_email = state["email"].to_numpy(dtype=object)
        self.s_cid = state["contact_id"].to_numpy(dtype=object)
        self.pos = pd.Index(self.s_hash).get_indexer(self.d_hash)
        self.status = _canonical(state["status"], lc.STATUSES, lc.UNKNOWN)
        self.ownership = _canonical(state["ownership"], lc.OWNERSHIPS, lc.CREATED)
        self.intent = state["intent"].to_numpy(dtype=object)
        self.origin = state["status_origin"].to_numpy(dtype=object)
        self.s_tags = _tag_tuples(state["managed_tags"])
        self.s_prior = _tag_tuples(state["prior_tags"])
        self.d_tags = _tag_tuples(desired["managed_tags"])
        self.skipped: list[tuple] = []
        self.unsubscribes: list[tuple] = []
        self.resubscribes: list[tuple] = []
        self.tag_adds: list[tuple] = []
        self.tag_removes: list[tuple] = []
        self.email_changes: list[int] = []      # desired positions
        self.email_change_old: list[int] = []   # their state positions

    # -- desired rows --------------------------------------------------------------------------
    def plan(self) -> AudiencePlan:
        in_state = self.pos >= 0
        at = np.where(in_state, self.pos, 0)
        status = np.where(in_state, self.status[at] if len(self.status) else lc.UNKNOWN, lc.UNKNOWN)
        owner = np.where(in_state, self.ownership[at] if len(self.ownership) else lc.NO_MEMBER,
                         lc.NO_MEMBER)
        intent = np.where(in_state, self.intent[at] if len(self.intent) else None, None)
        payload = self.desired["payload_hash"].to_numpy(dtype=object)
        s_payload = self.state["payload_hash"].to_numpy(dtype=object)
        same_payload = in_state & _same_hash(payload, np.where(in_state, s_payload[at] if len(s_payload) else None, None))
        parked = self.state["parked"].to_numpy(dtype=object)
        is_parked = in_state & pd.notna(np.where(in_state, parked[at] if len(parked) else None, None))

        pending_intent = in_state & pd.notna(intent)
        member = in_state & _isin(owner, lc.OWNED) & ~pending_intent
        not_held = ~in_state | (_isin(owner, {lc.NO_MEMBER}) & ~pending_intent)
        create = not_held & ~(is_parked & same_payload)
        used_state = np.zeros(len(self.state), dtype=bool)
        used_state[self.pos[in_state]] = True

        # an address change of a tracked contact (B9/B10) instead of a create and an exit
        create = self._pair_address_changes(create, used_state)

        for i in np.flatnonzero(not_held & ~create & is_parked & same_payload).tolist():
            self._skip_desired(i, "parked")
        for i in np.flatnonzero(pending_intent | (member & (status == lc.UNKNOWN))).tolist():
            self._skip_desired(i, "status_unknown")

        leave_linked = member & (owner == lc.LINKED) & (self.ctx.existing_members == "leave")
        editable = member & _isin(status, lc.EDITABLE) & ~leave_linked
        update = editable & ~same_payload
        # an update refused for its data waits for the data to change, reported every run (C7)
        for i in np.flatnonzero(editable & is_parked & same_payload).tolist():
            self._skip_desired(i, "parked")
        for i in np.flatnonzero(member & _isin(status, {lc.ARCHIVED, lc.CLEANED, lc.TRANSACTIONAL})).tolist():
            self._skip_desired(i, str(status[i]))
        for i in np.flatnonzero(leave_linked & ~same_payload & _isin(status, lc.EDITABLE)).tolist():
            self._skip_desired(i, "linked_left_alone")  # the others are listed for their status
        self._resubscribe(np.flatnonzero(member & (status == lc.UNSUBSCRIBED) & ~leave_linked), at)

        tags_for = create | editable
        self._desired_tags(np.flatnonzero(tags_for), in_state, at)
        leaving = ~used_state & _isin(self.ownership, lc.OWNED) & pd.isna(self.intent)
        self._exits(np.flatnonzero(leaving))
        # a member leaving while its last write is unresolved (the read-back got no answer) waits
        # for the next run's read-back: listed, so the run is not taken for a clean one
        for j in np.flatnonzero(~used_state & pd.notna(self.intent)).tolist():
            self.skipped.append((self.s_hash[j], _contact(self.s_cid[j]), self.s_email[j], "status_unknown"))
        guard = self._guard()

        creates = _frame(self.desired, create, CREATE_COLUMNS)
        updates = _frame(self.desired, update, UPDATE_COLUMNS)
        plan = AudiencePlan(
            self.audience_id, creates, updates, self._email_change_frame(),
            _rows(self.unsubscribes, UNSUBSCRIBE_COLUMNS), _rows(self.resubscribes, RESUBSCRIBE_COLUMNS),
            _tag_frame(self.tag_adds), _tag_frame(self.tag_removes),
            _rows(self.skipped, SKIPPED_COLUMNS), guard=guard,
        )
        plan.counts = {"desired": len(self.desired), "state": len(self.state),
                       **{name: len(getattr(plan, name)) for name in PLAN_FRAMES}}
        return plan

    def _skip_desired(self, i: int, reason: str) -> None:
        self.skipped.append((self.d_hash[i], self.d_cid[i], self.d_email[i], reason))

    def _pair_address_changes(self, create: np.ndarray, used_state: np.ndarray) -> np.ndarray:
        """Desired rows to create whose contact already has a member here under another address."""
        candidates = np.flatnonzero(create)
        if not len(candidates) or not len(self.state):
            return create
        by_contact: dict[int, int] = {}
        for j in np.flatnonzero(~used_state & _isin(self.ownership, lc.OWNED)).tolist():
            cid = self.s_cid[j]
            if cid is not None and not pd.isna(cid):
                by_contact.setdefault(int(cid), j)
        if not by_contact:
            return create
        moved_from = self.state["moved_from_hash"].to_numpy(dtype=object)
        for i in candidates.tolist():
            j = by_contact.get(int(self.d_cid[i]))
            if j is None:
                continue
            if moved_from[j] == self.d_hash[i]:  # B9: the person moved it in Mailchimp
                create[i] = False
                used_state[j] = True
                self._skip_desired(i, "moved_in_mailchimp")
            elif self.status[j] in lc.EDITABLE and pd.isna(self.intent[j]):  # B10: change in place
                create[i] = False
                used_state[j] = True
                self.email_changes.append(i)
                self.email_change_old.append(j)
            elif self.status[j] == lc.ARCHIVED:  # B6: a new address never re-adds the person
                create[i] = False
                used_state[j] = True
                self._skip_desired(i, "archived")
        return create

    def _resubscribe(self, rows: np.ndarray, at: np.ndarray) -> None:
        for i in rows.tolist():
            j = at[i]
            if self.origin[j] == lc.PROJECT:  # A7: the project's own unsubscribe is undone
                self.resubscribes.append((self.d_hash[i], self.d_cid[i], self.d_email[i], lc.SUBSCRIBED))
            elif self.ctx.reconsented is not None and self.d_hash[i] not in self.ctx.reconsented:
                # A8 needs an app consent newer than the opt-out; without one nothing is sent (A5)
                self._skip_desired(i, "consent_older_than_opt_out")
            elif self.ctx.reconsent == "pending":  # A8: the person confirms by email
                self.resubscribes.append((self.d_hash[i], self.d_cid[i], self.d_email[i], lc.PENDING))
                # not subscribed as the app wants: listed with the contact id (A8)
                self._skip_desired(i, "reconfirmation_sent")
            else:
                self._skip_desired(i, "opted_out_in_mailchimp")

    def _desired_tags(self, rows: np.ndarray, in_state: np.ndarray, at: np.ndarray) -> None:
        frozen = {t.casefold() for t in self.ctx.frozen_tags}
        for i in rows.tolist():
            self._tag_moves(i, self.s_tags[at[i]] if in_state[i] else (),
                            self.s_prior[at[i]] if in_state[i] else (), frozen)
        # a member whose address changes in place (B10) keeps its tags: moved from what it has
        for i, j in zip(self.email_changes, self.email_change_old, strict=True):
            self._tag_moves(i, self.s_tags[j], self.s_prior[j], frozen)

    def _tag_moves(self, i: int, have: tuple, prior_tags: tuple, frozen: set[str]) -> None:
        want = self.d_tags[i]
        if want == have:
            return
        prior = lc.fold_tags(prior_tags)
        have_f = lc.fold_tags(have)
        want_f = lc.fold_tags(want)
        row = (self.d_email[i], self.d_hash[i], self.d_cid[i])
        for key, tag in want_f.items():
            if key not in have_f and key not in prior:
                self.tag_adds.append((tag, *row))
        for key, tag in have_f.items():
            if key not in want_f and key not in prior and key not in frozen:
                self.tag_removes.append((tag, *row))

    # -- state rows that are not desired -------------------------------------------------------
    def _exits(self, rows: np.ndarray) -> None:
        frozen_tags = {t.casefold() for t in self.ctx.frozen_tags}
        self.held_unsubscribes: list[tuple] = []
        for j in rows.tolist():
            status = self.status[j]
            if status not in lc.EDITABLE:  # archived, cleaned, absent, unknown: never written (C6)
                continue
            reason = self._exit_reason(j)
            explicit = reason in lc.EXPLICIT_EXITS
            personal = reason in lc.PERSON_EXITS  # not caused by the configuration (C1, C2)
            row = (self.s_hash[j], _contact(self.s_cid[j]), self.s_email[j])
            if not personal and self.ctx.frozen:
                if status in lc.MAILABLE or self.s_tags[j]:
                    self.skipped.append((*row, "frozen_audience"))
                continue
            unsubscribe = status in lc.MAILABLE and (explicit or self.ownership[j] == lc.CREATED)
            removes = [(tag, self.s_email[j], self.s_hash[j], _contact(self.s_cid[j]))
                       for key, tag in lc.fold_tags(self.s_tags[j]).items()
                       if key not in lc.fold_tags(self.s_prior[j]) and (personal or key not in frozen_tags)]
            if unsubscribe:
                entry = (*row, reason, explicit)
                (self.unsubscribes if explicit else self.held_unsubscribes).append((entry, removes))
                continue
            self.tag_removes.extend(removes)

    def _exit_reason(self, j: int) -> str:
        if self.s_hash[j] in self.ctx.withdrawn:
            return "consent_withdrawn"
        cid = _contact(self.s_cid[j])
        if cid is not None and self.ctx.live_contacts is not None and cid not in self.ctx.live_contacts:
            return "contact_deleted"
        if cid is not None and self.ctx.cohort_contacts is not None:
            current = self.ctx.cohort_contacts.get(cid)
            if current is not None and current != self.s_hash[j]:
                return "email_changed"
        return "left_audience"

    def _guard(self) -> dict[str, int | bool]:
        """C4: hold non-explicit unsubscribes when there are too many of them."""
        explicit = [entry for entry in self.unsubscribes]
        self.unsubscribes = []
        for entry, removes in explicit:
            self.unsubscribes.append(entry)
            self.tag_removes.extend(removes)
        others = self.held_unsubscribes
        subscribed = int(((self.status == lc.SUBSCRIBED) & _isin(self.ownership, lc.OWNED)).sum())
        held = self.ctx.guard.holds(len(others), subscribed)
        for entry, removes in others:
            if held:
                self.skipped.append((*entry[:3], "mass_unsubscribe_guard"))
            else:
                self.unsubscribes.append(entry)
                self.tag_removes.extend(removes)
        return {"subscribed": subscribed, "non_explicit_unsubscribes": len(others),
                "explicit_unsubscribes": len(explicit), "held": held,
                "overridden": bool(self.ctx.guard.override and len(others) > self.ctx.guard.min_count)}

    def _email_change_frame(self) -> pd.DataFrame:
        rows = np.zeros(len(self.desired), dtype=bool)
        rows[self.email_changes] = True
        order = np.argsort(np.asarray(self.email_changes, dtype=np.intp), kind="stable")
        olds = np.asarray(self.email_change_old, dtype=np.intp)[order]
        return _frame(self.desired, rows, CREATE_COLUMNS, old_hash=self.s_hash[olds],
                      old_email=self.s_email[olds])[list(EMAIL_CHANGE_COLUMNS)]


# -- helpers -----------------------------------------------------------------------------------
_DEFAULTS: dict[str, object] = {"ownership": lc.CREATED, "status_origin": None, "intent": None,
                                "prior_tags": (), "parked": None, "moved_from_hash": None,
                                "managed_tags": (), "payload_hash": None}


def _with_defaults(state: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in STATE_COLUMNS if c not in state.columns]
    if not missing:
        return state
    extra = {}
    for column in missing:
        if column not in _DEFAULTS:
            raise ValueError(f"state lacks column {column!r}")
        values = np.empty(len(state), dtype=object)
        values[:] = [_DEFAULTS[column]] * len(state)
        extra[column] = values
    return state.assign(**extra)


def _single_audience(desired: pd.DataFrame, state: pd.DataFrame) -> str | None:
    audiences: set[str] = set()
    for frame in (desired, state):
        if "audience_id" in frame.columns and len(frame):
            audiences.update(pd.unique(frame["audience_id"]).tolist())
    if len(audiences) > 1:
        raise ValueError("diff_audience plans one audience at a time; got "
                         + ", ".join(sorted(map(str, audiences))))
    return next(iter(audiences), None)


def _canonical(values: pd.Series, known: Iterable[str], fallback: str) -> np.ndarray:
    """Values as an object array; anything unrecognised (None, typos) becomes `fallback`."""
    codes, uniques = pd.factorize(values)
    known = set(known)
    lookup = np.array([*[u if u in known else fallback for u in uniques], fallback], dtype=object)
    return lookup[codes]


def _contact(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _isin(values: np.ndarray, wanted: Iterable[str]) -> np.ndarray:
    # pandas' hash-table isin: one C pass instead of a Python `in` per row
    return pd.Series(values, dtype=object, copy=False).isin(list(wanted)).to_numpy(dtype=bool)


def _same_hash(desired: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Elementwise equality of payload hashes; a missing state hash never matches."""
    valid = pd.notna(state)
    return valid & (desired == np.where(valid, state, ""))


def _tag_tuples(values: pd.Series) -> np.ndarray:
    """Tag cells (tuples, lists, arrays, JSON text or None) as sorted tuples; few distinct
    combinations exist, so cells are grouped by object identity and each converted once."""
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
        elif isinstance(v, str):
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


def _frame(source: pd.DataFrame, mask: np.ndarray, columns: Iterable[str],
           **extra: object) -> pd.DataFrame:
    """The masked `columns` of `source` plus `extra` columns (already masked)."""
    data: dict[str, object] = {c: source[c].to_numpy()[mask] for c in columns}
    data.update(extra)
    return pd.DataFrame(data, copy=False)


def _rows(rows: list[tuple], columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(columns)) if rows else \
        pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    frame["contact_id"] = pd.array(frame["contact_id"].tolist(), dtype="Int64")
    return frame


def _tag_frame(rows: list[tuple]) -> pd.DataFrame:
    rows.sort(key=lambda r: (r[0], r[2]))  # by tag, then subscriber hash
    return _rows(rows, TAG_COLUMNS)
