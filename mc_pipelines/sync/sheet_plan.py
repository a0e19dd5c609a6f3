"""The plan of a spreadsheet import (pure): per sheet row, what the import does in Mailchimp.

A row names an address, an audience (blank = the org's default) and `Y`/`N` per tag. It goes
through the same lifecycle rules as the sync (`LIFECYCLE.md`):

- **Consent gate (A2).** Only an address the sync wants in that audience (`desired_members`:
  consenting, valid, deduplicated, in the segments feeding the audience) is added or tagged;
  any other row of a known contact is skipped (`no_consent` / `not_in_audience`), whatever the
  sheet says. An address no live contact of the org has is ignored (`unknown_address`).
- **Creates (A1, B5).** A wanted address Mailchimp does not hold is created like the sync creates
  it (batch subscribe, never `update_existing`, the signup marker); one Mailchimp already holds
  but the project never met goes the same way and is *linked* by reading it back (B2), its status
  never changed. Nothing else sends a status: an import never re-subscribes, unsubscribes or
  un-archives anyone (B1, B6, B7; an opt-out stays an opt-out).
- **Who is left alone.** Archived, cleaned and transactional members, linked members under
  `existing_members=leave`, parked creates whose data did not change: skipped with the reason.
  Foreign members — no live contact with that address — are never touched (B4).
- **Tags.** `Y` adds the tag where the member (as just read) lacks it, `N` removes it where it
  has it; compared case-insensitively (D3). Only tags defined in the audience are moved (other
  columns are ignored and reported). *Managed* tags (a segment's tag, or a pushed app tag under
  the `app_tag_prefix`) are the application's: an import never moves them — they would be put
  back or taken off by the next sync (D4) — and their columns are reported as ignored. Every
  other tag is a marketer's: the sheet is an explicit operator instruction for that member, so
  the import moves it (the sync itself never does, D1), and records it as the member's own tag,
  never managed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from mc_pipelines.sync import lifecycle as lc
from mc_pipelines.sync.app_tags import is_managed
from mc_pipelines.sync.diff import CREATE_COLUMNS

OUTCOME_COLUMNS = ("row", "audience_id", "contact_id", "outcome", "reason", "tags_added",
                   "tags_removed")
MOVE_COLUMNS = ("audience_id", "subscriber_hash", "contact_id", "email", "tag", "add", "row")
REASONS: dict[str, str] = {
    **lc.REASONS,
    "unknown_address": "no live contact of the org has this address; nothing done",
    "unknown_audience": "the audience is not one the org syncs to; nothing done",
    "no_consent": "the contact has not consented (or withdrew): never added nor tagged",
    "not_in_audience": "the contact is not in the segments feeding this audience",
    "contact_mismatch": "contact_id does not match the address; fix one of them",
    "nothing_to_do": "the member already has the tags the sheet asks for",
    "opted_out_in_mailchimp": "opted out in Mailchimp since the last pull: the import withdraws "
                              "the consent first and never re-subscribes the person",
}
_LEFT_ALONE = {lc.ARCHIVED, lc.CLEANED, lc.TRANSACTIONAL}


@dataclass(frozen=True)
class ImportContext:
    """What the plan needs besides the sheet (read from the application and Mailchimp).

    `contacts`: the org's live contacts (`contact_id`, `subscriber_hash`, `marketing_consent`).
    `desired`: `desired_members` rows (every audience). `state`: the resolved member state.
    `members`: (audience, hash) → (status, tags) as just read from Mailchimp (non-archived
    members). `defined_tags`: per audience, the tags Mailchimp defines (name → segment id).
    `managed_tags`: per audience, the segment tags; `app_tag_prefix` when app tags are pushed.
    """

    default_audience: str
    audiences: tuple[str, ...]
    contacts: pd.DataFrame
    desired: pd.DataFrame
    state: pd.DataFrame
    members: Mapping[tuple[str, str], tuple[str, list[str]]]
    defined_tags: Mapping[str, Mapping[str, int]]
    managed_tags: Mapping[str, set[str]] = field(default_factory=dict)
    app_tag_prefix: str | None = None
    existing_members: str = "update"


@dataclass
class ImportPlan:
    """Creates per audience (`diff.CREATE_COLUMNS`), tag moves (`MOVE_COLUMNS`), one outcome per
    sheet row (`OUTCOME_COLUMNS`), and the tag columns ignored per audience (tag → why)."""

    creates: dict[str, pd.DataFrame]
    moves: pd.DataFrame
    outcomes: pd.DataFrame
    ignored_columns: dict[str, dict[str, str]]

    @property
    def counts(self) -> dict[str, int]:
        """Rows per outcome, and tag moves."""
        counts = self.outcomes["outcome"].value_counts().to_dict() if len(self.outcomes) else {}
        adds = int(self.moves["add"].sum()) if len(self.moves) else 0
        return {**{str(k): int(v) for k, v in counts.items()}, "tag_adds": adds,
                "tag_removes": len(self.moves) - adds}


def plan_import(rows: pd.DataFrame, ctx: ImportContext) -> ImportPlan:
    """Plan the sheet's valid rows (`sheet_rows.ROW_COLUMNS`) against `ctx` (module doc)."""
    return _Planner(ctx).plan(rows)


class _Planner:
    def __init__(self, ctx: ImportContext) -> None:
        self.ctx = ctx
        self.contacts_of: dict[str, list[int]] = {}
        self.consenting: set[str] = set()
        for cid, h, consent in ctx.contacts[["contact_id", "subscriber_hash", "marketing_consent"]] \
                .itertuples(index=False):
            if h is not None:
                self.contacts_of.setdefault(h, []).append(int(cid))
                if consent:
                    self.consenting.add(h)
        desired = ctx.desired.reset_index(drop=True)
        self.desired = {(a, h): i for i, (a, h) in enumerate(
            zip(desired["audience_id"], desired["subscriber_hash"], strict=True))}
        self.desired_frame = desired
        self.state = {(a, h): r for a, h, r in zip(
            ctx.state["audience_id"], ctx.state["subscriber_hash"], ctx.state.to_dict("records"),
            strict=True)} if len(ctx.state) else {}
        self.outcomes: list[tuple] = []
        self.moves: list[tuple] = []
        self.creates: dict[str, list[int]] = {}
        self.ignored: dict[str, dict[str, str]] = {}
        self._tag_cache: dict[str, tuple[dict[str, str], set[str]]] = {}

    def plan(self, rows: pd.DataFrame) -> ImportPlan:
        for row in rows.to_dict("records"):
            self._row(row)
        creates = {a: self.desired_frame.iloc[sorted(set(p))][list(CREATE_COLUMNS)].reset_index(drop=True)
                   for a, p in self.creates.items()}
        outcomes = pd.DataFrame(self.outcomes, columns=list(OUTCOME_COLUMNS))
        outcomes["contact_id"] = pd.array(outcomes["contact_id"].tolist(), dtype="Int64")
        return ImportPlan(creates, pd.DataFrame(self.moves, columns=list(MOVE_COLUMNS)),
                          outcomes, self.ignored)

    def _out(self, row: dict, audience: str, cid: int | None, outcome: str, reason: str = "",
             added: tuple = (), removed: tuple = ()) -> None:
        self.outcomes.append((row["row"], audience, cid, outcome, reason, list(added), list(removed)))

    def _row(self, row: dict) -> None:
        audience = row["audience_id"] or self.ctx.default_audience
        h = row["subscriber_hash"]
        contacts = self.contacts_of.get(h, [])
        given = None if pd.isna(row["contact_id"]) else int(row["contact_id"])
        cid = given if given is not None else (contacts[0] if contacts else None)
        if audience not in self.ctx.audiences:
            return self._out(row, audience, cid, "ignored", "unknown_audience")
        if not contacts:
            return self._out(row, audience, given, "ignored", "unknown_address")
        if given is not None and given not in contacts:
            return self._out(row, audience, given, "ignored", "contact_mismatch")
        at = self.desired.get((audience, h))
        if at is not None and given is None:
            cid = int(self.desired_frame.at[at, "contact_id"])
        if at is None:  # the consent gate: never added nor tagged (A2)
            return self._out(row, audience, cid, "skipped",
                             "no_consent" if h not in self.consenting else "not_in_audience")
        state = self.state.get((audience, h))
        member = self.ctx.members.get((audience, h))
        owned = state is not None and state.get("ownership") in lc.OWNED
        if state is not None and state.get("intent") is not None and not pd.isna(state.get("intent")):
            return self._out(row, audience, cid, "skipped", "status_unknown")
        if member is None:
            if owned:  # tracked, not listed: archived, or gone since the last read
                status = str(state.get("status"))
                return self._out(row, audience, cid, "skipped",
                                 status if status in _LEFT_ALONE else "status_unknown")
            if state is not None and _parked_same(state, self.desired_frame.at[at, "payload_hash"]):
                return self._out(row, audience, cid, "skipped", "parked")
            return self._create(row, audience, cid, at, [])
        status, tags = member
        if owned and status in lc.OPTED_OUT and state.get("status") not in lc.OPTED_OUT:
            # an opt-out the state has not taken in yet (a dry run does not record the pull's
            # consent withdrawals): the real run withdraws the consent first and skips the row
            return self._out(row, audience, cid, "skipped", "opted_out_in_mailchimp")
        if status in _LEFT_ALONE:
            return self._out(row, audience, cid, "skipped", status)
        if not owned:  # Mailchimp holds it, the project never met it: linked by the create
            return self._create(row, audience, cid, at, tags)
        if state.get("ownership") == lc.LINKED and self.ctx.existing_members == "leave":
            return self._out(row, audience, cid, "skipped", "linked_left_alone")
        added, removed = self._tags(row, audience, cid, tags)
        if added or removed:
            return self._out(row, audience, cid, "tags", "", added, removed)
        return self._out(row, audience, cid, "unchanged", "nothing_to_do")

    def _create(self, row: dict, audience: str, cid: int | None, at: int, tags: list[str]) -> None:
        self.creates.setdefault(audience, []).append(at)
        if tags and self.ctx.existing_members == "leave":  # linked by the create, then left alone
            return self._out(row, audience, cid, "create", "linked_left_alone")
        added, removed = self._tags(row, audience, cid, tags)
        self._out(row, audience, cid, "create", "", added, removed)

    def _tags(self, row: dict, audience: str, cid: int | None, have: list[str]) -> tuple[list, list]:
        defined, usable = self._audience_tags(audience)
        held = {t.casefold() for t in have}
        added, removed = [], []
        for tag, want in row["wants"]:
            key = tag.casefold()
            if key not in usable:
                self.ignored.setdefault(audience, {})[tag] = (
                    "not defined in the audience" if key not in defined else
                    "managed by the project (a segment's or a pushed app tag): change the "
                    "contact in the app instead")
                continue
            if want != (key in held):
                name = defined[key]
                (added if want else removed).append(name)
                self.moves.append((audience, row["subscriber_hash"], cid, row["email"], name, want,
                                   row["row"]))
        return added, removed


    def _audience_tags(self, audience: str) -> tuple[dict[str, str], set[str]]:
        """(the audience's tags by folded name, the folded names an import may move)."""
        if audience not in self._tag_cache:
            defined = {t.casefold(): t for t in self.ctx.defined_tags.get(audience, {})}
            managed = self.ctx.managed_tags.get(audience, ())
            self._tag_cache[audience] = (defined, {
                k for k, t in defined.items() if not is_managed(t, managed, self.ctx.app_tag_prefix)})
        return self._tag_cache[audience]


def _parked_same(state: dict, payload: object) -> bool:
    parked = state.get("parked")
    return parked is not None and not pd.isna(parked) and state.get("payload_hash") == payload
