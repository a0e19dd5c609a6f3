"""Mailchimp-side changes flowing back into the application's consent (LIFECYCLE A5, A6, A9, A10).

The pull, the push's read-backs and the webhook receiver all call `apply_changes`, so the three
apply one rule:
- an opt-out made in Mailchimp (unsubscribed, cleaned, compliance) withdraws consent on every
  contact of the org with that address — live or soft-deleted, whatever stray whitespace the
  stored address has — unless the contact's latest consent event is a `given` newer than the
  opt-out (A9: a newer app consent is never erased; re-consent then follows A8);
- a subscribe made in Mailchimp after an opt-out (a signup form) gives consent back, unless the
  contact withdrew it in the app after that subscribe;
- both also reach the contacts the project's state links to that member, whatever address the
  app holds for them now: a contact whose address the app changed before the change was read is
  still the person who made it. An opt-out so never ends in the member being moved to the new
  address and asked to confirm again (A5), a re-subscribe is never undone as if the contact had
  withdrawn (A6), and neither outcome depends on whether a run happened to read the change
  before the app's (a `cleaned` address included);
- every consent change writes a `consent_events` row (source `mailchimp`, at Mailchimp's time of
  the change) and an audit row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine

from mc_pipelines.mailchimp.addresses import address_key, subscriber_hash
from mc_pipelines.store import contacts, member_state

SOURCE = "mailchimp"
OPT_OUT, RESUBSCRIBE = "opt_out", "resubscribe"


@dataclass(frozen=True)
class MailchimpChange:
    """One change a person, a marketer or Mailchimp made to a member."""

    email: str
    kind: str                 # OPT_OUT or RESUBSCRIBE
    at: datetime | None       # when Mailchimp made it (naive UTC); None: unknown, taken as now
    detail: str


@dataclass
class ConsentOutcome:
    """Contacts whose consent the changes moved, and those an older opt-out did not move (A9)."""

    withdrawn: list[int] = field(default_factory=list)
    given: list[int] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    contact_ids: dict[str, list[int]] = field(default_factory=dict)  # address key → contacts


def apply_changes(engine: Engine, org_id: str, changes: Iterable[MailchimpChange], *,
                  dry_run: bool = False) -> ConsentOutcome:
    """Apply Mailchimp-side changes to the org's contacts' consent (see the module doc)."""
    changes = list(changes)
    outcome = ConsentOutcome()
    if not changes:
        return outcome
    by_address = contacts.contact_ids_by_address(engine, org_id, [c.email for c in changes])
    linked = member_state.contacts_of_members(engine, org_id, [subscriber_hash(c.email) for c in changes])
    for change in changes:
        if also := linked.get(subscriber_hash(change.email)):
            key = address_key(change.email)
            by_address[key] = sorted(set(by_address.get(key, [])) | also)
    outcome.contact_ids = by_address
    # the app's own consent changes (Mailchimp's, already recorded, never outrank Mailchimp's next)
    latest = contacts.latest_consent_changes(
        engine, org_id, [i for ids in by_address.values() for i in ids], exclude_source=SOURCE)
    for change in changes:
        ids = by_address.get(address_key(change.email), [])
        if change.kind == OPT_OUT:
            move = [i for i in ids if not latest_is_newer(latest.get(i), "given", change.at)]
            outcome.kept += [i for i in ids if i not in move]
        else:
            move = [i for i in ids if not latest_is_newer(latest.get(i), "withdrawn", change.at, ties=True)]
        if dry_run or not move:
            continue
        if change.kind == OPT_OUT:
            outcome.withdrawn += contacts.withdraw_consent(engine, org_id, move, source=SOURCE,
                                                           detail=change.detail)
        else:
            outcome.given += contacts.give_consent(engine, org_id, move, source=SOURCE,
                                                   detail=change.detail)
    return outcome


def latest_is_newer(latest: tuple[str, datetime] | None, kind: str, at: datetime | None, *,
                    ties: bool = False) -> bool:
    """True when the contact's latest consent event is of `kind` and newer than `at`.

    Mailchimp's times have second precision, the app's do not: both are compared to the second,
    and a change in the same second as `at` counts as newer only with `ties` — so a same-second
    race always ends on the side of no consent (an app `given` does not outrank an opt-out of
    its own second; an app withdrawal does outrank a Mailchimp re-subscribe of its second)."""
    if latest is None or latest[0] != kind or at is None:
        return False
    mine = latest[1].replace(microsecond=0)
    theirs = at.replace(microsecond=0)
    return mine >= theirs if ties else mine > theirs

