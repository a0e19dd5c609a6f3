"""The member lifecycle state machine (`LIFECYCLE.md`): what the project knows about one
(org, audience, address) and how each thing it reads from Mailchimp moves that knowledge.

Pure: no Dagster, no I/O. The diff (`sync.diff`) plans writes from this state and the desired
state; the push, the pull and the webhook receiver call the transitions below, so the three
agree on every case.

State of one member (a row of `mailchimp_member_state`):

- `ownership` — `created`: the project created it (its create was acknowledged, or read back and
  proved ours by the signup timestamp the project sent); `linked`: it existed before the project
  met the address and matches a contact of the org; `none`: Mailchimp does not hold it as far as
  the project knows (a create was refused and parked, or never confirmed). Foreign members (no
  contact of the org) never get a row.
- `status` — the Mailchimp status last *read* (or acknowledged by a write's answer), with
  `status_read_at`; `unknown` until read, `absent` when Mailchimp does not hold the member.
- `status_origin` — who made the current status: `project` (it sent it) or `mailchimp` (the
  person, a marketer, a bounce, compliance).
- `intent` — the write the project is about to send (`create`, `unsubscribe`, `subscribe`,
  `pending`, `email`), recorded *before* the write and cleared with its answer. A row still
  carrying an intent had its answer lost: it is read back before anything else, so a lost
  answer is never misread (B5, B8).
- `prior_tags` — tags on the member the project did not apply (it had them before the project met
  it, or a marketer added them; refreshed whenever the pull reads the member): never added nor
  removed by the project (D1, D2).
- `moved_from_hash` — the member changed its address in Mailchimp (B9): the hash it had before.

Transitions when the project reads a member (`after_read`): an opt-out it did not make withdraws
consent; a subscribe it did not make after an opt-out gives consent and links the member; an
archive is recorded and left alone; anything matching the pending intent confirms it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mc_pipelines.sync.timestamps import parse_mailchimp_time

# -- vocabulary --------------------------------------------------------------------------------
CREATED, LINKED, NO_MEMBER = "created", "linked", "none"
OWNED = frozenset({CREATED, LINKED})
OWNERSHIPS = frozenset({CREATED, LINKED, NO_MEMBER})

SUBSCRIBED, UNSUBSCRIBED, CLEANED, PENDING = "subscribed", "unsubscribed", "cleaned", "pending"
TRANSACTIONAL, ARCHIVED = "transactional", "archived"
MAILCHIMP_STATUSES = frozenset({SUBSCRIBED, UNSUBSCRIBED, CLEANED, PENDING, TRANSACTIONAL, ARCHIVED})
UNKNOWN, ABSENT = "unknown", "absent"
STATUSES = MAILCHIMP_STATUSES | {UNKNOWN, ABSENT}
# Statuses that may be receiving marketing email: the only ones an unsubscribe is sent to.
MAILABLE = frozenset({SUBSCRIBED, PENDING})
# Statuses that take field updates and tag moves.
EDITABLE = frozenset({SUBSCRIBED, PENDING, UNSUBSCRIBED})
# Statuses that mean the person cannot be mailed and the project must not change that.
OPTED_OUT = frozenset({UNSUBSCRIBED, CLEANED})

PROJECT, MAILCHIMP = "project", "mailchimp"

INTENT_CREATE, INTENT_UNSUBSCRIBE = "create", "unsubscribe"
INTENT_SUBSCRIBE, INTENT_PENDING, INTENT_EMAIL = "subscribe", "pending", "email"
INTENTS = frozenset({INTENT_CREATE, INTENT_UNSUBSCRIBE, INTENT_SUBSCRIBE, INTENT_PENDING, INTENT_EMAIL})
# The status each status-changing intent asks Mailchimp for.
INTENT_STATUS = {INTENT_UNSUBSCRIBE: UNSUBSCRIBED, INTENT_SUBSCRIBE: SUBSCRIBED,
                 INTENT_PENDING: PENDING}

# Connection options (stored on the connection, audited when changed).
EXISTING_MEMBERS_OPTIONS = ("update", "leave")
RECONSENT_OPTIONS = ("pending", "report")

# -- why a row is skipped or held; every reason is reported with the contact id ----------------
REASONS: dict[str, str] = {
    "archived": "archived in Mailchimp; never re-added or un-archived by the project",
    "cleaned": "address bounced (cleaned) in Mailchimp; cannot be re-subscribed",
    "transactional": "transactional member in Mailchimp; not changed to marketing",
    "opted_out_in_mailchimp": "opted out in Mailchimp; the app's newer consent needs the person's "
                              "own confirmation (connection option reconsent=report)",
    "reconfirmation_sent": "opted out in Mailchimp, consent given again in the app: a double "
                           "opt-in confirmation was requested; waits for the person",
    "consent_older_than_opt_out": "opted out in Mailchimp after the app's latest recorded "
                                  "consent, yet consenting in the app: nothing is sent; record "
                                  "the consent (a `given` event) if the person gave it again",
    "parked": "Mailchimp refused this contact's data; retried when the contact's data changes",
    "linked_left_alone": "existed in Mailchimp before the project (connection option "
                         "existing_members=leave); status and fields left alone",
    "moved_in_mailchimp": "the person changed their address in Mailchimp; the old address is "
                          "not re-created (update the contact's email in the app)",
    "frozen_audience": "the audience is no longer configured or one of its segments is invalid: "
                       "only consent withdrawals and contact deletions are sent there",
    "mass_unsubscribe_guard": "held back: this run would unsubscribe too many of the audience's "
                              "members; re-run with the override to send",
    "status_unknown": "Mailchimp's status could not be read; retried next run",
}
# Reasons a person must look at (the others are the contract working as intended).
NEEDS_A_PERSON = frozenset({"opted_out_in_mailchimp", "consent_older_than_opt_out", "parked",
                            "moved_in_mailchimp", "mass_unsubscribe_guard", "status_unknown"})

# Why a member leaves an audience (the unsubscribe's `reason`). Only a consent withdrawal is
# explicit: the others count towards the mass-unsubscribe guard. A withdrawal and a deletion are
# the person's or the app's own acts, not consequences of the configuration: they reach frozen
# audiences too (C1); the configuration-made exits (left the segments, address changed) are held.
EXIT_REASONS: dict[str, str] = {
    "consent_withdrawn": "consent withdrawn in the app",
    "contact_deleted": "the contact was deleted in the app",
    "left_audience": "the contact left the segments that feed this audience",
    "email_changed": "the contact now uses another address",
}
EXPLICIT_EXITS = frozenset({"consent_withdrawn"})
PERSON_EXITS = frozenset({"consent_withdrawn", "contact_deleted"})


@dataclass(frozen=True)
class GuardSettings:
    """C4: a run may not unsubscribe more than `max_fraction` of an audience's subscribed
    members (and more than `min_count` of them) for non-explicit reasons, unless `override`."""

    max_fraction: float = 0.2
    min_count: int = 50
    override: bool = False

    def holds(self, unsubscribes: int, subscribed: int) -> bool:
        """True when `unsubscribes` non-explicit unsubscribes must be held back."""
        return (not self.override and unsubscribes > self.min_count
                and unsubscribes > self.max_fraction * max(subscribed, 0))


@dataclass(frozen=True)
class AudienceContext:
    """What the diff needs to know about one audience beyond desired and state rows.

    `frozen`: the audience left the configuration (C1) or one of its segments is invalid (C2):
    only consent withdrawals and deletions (`PERSON_EXITS`) are sent there. `frozen_tags`: tags
    whose removals are held (C2), except for those exits. `withdrawn`: subscriber hashes whose address's latest consent change is a
    withdrawal (A3/A4). `live_contacts`: ids of the org's live contacts (to tell a deleted
    contact from one that left the audience). `cohort_contacts`: contact id → subscriber hash of
    the consented cohort (to tell an address change from an exit). `reconsented`: members opted
    out in Mailchimp whose contact's latest consent change in the app is a `given` newer than the
    opt-out (A8, A9) — the only ones a double opt-in request may go to; None: not read (every
    such member the app wants back counts as re-consented, as in the pure-function tests).
    """

    frozen: bool = False
    frozen_tags: frozenset[str] = frozenset()
    withdrawn: frozenset[str] = frozenset()
    live_contacts: frozenset[int] | None = None
    cohort_contacts: dict[int, str] | None = None
    existing_members: str = "update"
    reconsent: str = "pending"
    guard: GuardSettings = GuardSettings()
    reconsented: frozenset[str] | None = None


# -- reading a member back ---------------------------------------------------------------------
@dataclass(frozen=True)
class ReadOutcome:
    """What reading one member back (after a lost answer, or an unknown status) established."""

    values: dict[str, Any]           # state columns to write
    opted_out: bool = False          # a Mailchimp-side opt-out: withdraw consent (A5)
    resubscribed: bool = False       # a Mailchimp-side subscribe after an opt-out (A6)


def origin_of_write(state: dict[str, Any], wanted: str) -> str:
    """Whose status a status the project wrote is: the project's, except a double opt-in request
    (A8) and the unsubscribe of a member still waiting to confirm one — the Mailchimp-side opt-out
    stands until the person confirms, so a later re-consent never re-subscribes it as if the
    project had made the opt-out (A7 is for project-made unsubscribes only)."""
    if wanted == PENDING:
        return MAILCHIMP
    if wanted == UNSUBSCRIBED and state.get("status") == PENDING and state.get("status_origin") == MAILCHIMP:
        return MAILCHIMP
    return PROJECT


def signup_marker(at: datetime) -> str:
    """The `timestamp_signup` the project sends with every create (second precision, UTC): a
    member read back with exactly this value was created by that create (B5)."""
    return at.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def after_read(state: dict[str, Any], member: dict[str, Any] | None, now: datetime) -> ReadOutcome:
    """The state after reading one member whose state row is `state` (a `mailchimp_member_state`
    row as a dict). `member`: Mailchimp's member object (`status`, `timestamp_signup`,
    `contact_id`, `tags`…) or None when Mailchimp does not hold it (404)."""
    intent = state.get("intent")
    if member is None:
        return ReadOutcome({"status": ABSENT, "status_origin": None, "status_read_at": now,
                            "intent": None, "intent_at": None, "ownership": NO_MEMBER})
    status = str(member.get("status") or UNKNOWN)
    values: dict[str, Any] = {"status": status, "status_read_at": now, "intent": None,
                              "intent_at": None}
    if member.get("contact_id"):
        values["mailchimp_contact_id"] = str(member["contact_id"])
    changed_at = parse_mailchimp_time(member.get("last_changed")) or now
    ownership = state.get("ownership") or NO_MEMBER
    if intent == INTENT_CREATE or ownership == NO_MEMBER:
        intent_at = state.get("intent_at")
        ours = intent_at is not None and member.get("timestamp_signup") == signup_marker(intent_at)
        values["ownership"] = CREATED if ours else LINKED
        if not ours:
            values["prior_tags"] = sorted(_tag_names(member))
        values["status_origin"] = PROJECT if ours else MAILCHIMP
        # a linked member found opted out: the opt-out may withdraw consent (unless the app's
        # consent is newer, A9 — decided where consent events are known)
        opted_out = not ours and status in OPTED_OUT
        if opted_out:
            values["opted_out_at"] = changed_at
        return ReadOutcome(values, opted_out=opted_out)
    values["ownership"] = ownership
    wanted = INTENT_STATUS.get(intent or "")
    if wanted is not None and status == wanted:  # the lost answer was a success
        values["status_origin"] = origin_of_write(state, wanted)
        return ReadOutcome(values)
    return _mailchimp_side(state, status, values, changed_at)


def after_pull(state: dict[str, Any], status: str, now: datetime,
               changed_at: datetime | None = None) -> ReadOutcome:
    """The state after the pull (or a webhook) saw `status` for a member the project tracks;
    `changed_at`: when Mailchimp made the change (its `last_changed`, a webhook's `fired_at`)."""
    values: dict[str, Any] = {"status": status, "status_read_at": now}
    intent = state.get("intent")
    wanted = INTENT_STATUS.get(intent or "")
    if wanted is not None and status == wanted:  # our write landed; its answer may be lost (B8)
        values.update(status_origin=origin_of_write(state, wanted), intent=None, intent_at=None)
        return ReadOutcome(values)
    if intent is not None:
        # a write is in flight or its answer was lost: the push reads the member back first
        return ReadOutcome(values)
    return _mailchimp_side(state, status, values, changed_at or now)


def _mailchimp_side(state: dict[str, Any], status: str, values: dict[str, Any],
                    changed_at: datetime) -> ReadOutcome:
    previous = state.get("status")
    if status == previous:
        return ReadOutcome(values)
    values["status_origin"] = MAILCHIMP
    if status in OPTED_OUT:
        values["opted_out_at"] = changed_at  # A8 asks for an app consent newer than this
        return ReadOutcome(values, opted_out=True)
    if status == SUBSCRIBED and previous in OPTED_OUT | {ARCHIVED}:
        # the person subscribed again themselves (a form): their subscription, not ours to end
        values["ownership"] = LINKED
        return ReadOutcome(values, resubscribed=True)
    return ReadOutcome(values)


def _tag_names(member: dict[str, Any]) -> set[str]:
    return {str(t.get("name")) for t in member.get("tags") or [] if isinstance(t, dict)}


def fold_tags(tags: object) -> dict[str, str]:
    """Tag names keyed case-insensitively (Mailchimp treats `VIP` and `vip` as one tag, D3)."""
    return {str(t).casefold(): str(t) for t in (tags or ())}
