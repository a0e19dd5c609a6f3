"""What one page of the member-status pull changes (pure): state refreshes, Mailchimp-side
consent changes and address moves, decided by the lifecycle's `after_pull`.

- A tracked member whose status changed: the new status and its origin; an opt-out or a
  re-subscribe the project did not make is a consent change (A5, A6); one the project made (its
  pending intent) confirms the write, even if the write's answer was lost (B8).
- An untracked member that opted out in Mailchimp still withdraws the consent of the org's
  contacts with that address (A5); it is never added to the state (B4).
- An untracked address whose Mailchimp contact id belongs to a tracked member is that member under
  a new address (the person changed it in Mailchimp, B9): the state follows it.
- A managed tag the member no longer has (removed by hand in Mailchimp) is dropped from the state
  so the next push applies it again (D4); Mailchimp's tags are kept as read (E2); the tags the
  project did not apply become the member's `prior_tags`, which it never moves (D1, D2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mc_pipelines.sync import lifecycle as lc
from mc_pipelines.sync.timestamps import parse_mailchimp_time

DEFAULT_REASONS = {
    "unsubscribed": "unsubscribed in Mailchimp",
    "cleaned": "address cleaned by Mailchimp (hard bounce or abuse report)",
    "subscribed": "subscribed again in Mailchimp",
}
# The state columns `plan_page` compares and writes (besides the lifecycle's).
PULLED_COLUMNS = ("status", "status_origin", "ownership", "intent", "intent_at", "mailchimp_tags",
                  "last_changed", "managed_tags", "prior_tags", "mailchimp_contact_id")


@dataclass(frozen=True)
class PulledMember:
    """The fields of a Mailchimp member the pull uses."""

    subscriber_hash: str
    email: str
    status: str
    tags: list[str]
    last_changed: datetime | None
    reason: str
    contact_id: str | None = None

    @classmethod
    def from_api(cls, member: dict[str, Any]) -> PulledMember:
        """From a member object of `GET /lists/{id}/members`."""
        return cls(
            subscriber_hash=member["id"], email=member["email_address"], status=member["status"],
            tags=sorted(t["name"] for t in member.get("tags") or []),
            last_changed=parse_mailchimp_time(member.get("last_changed")),
            reason=member.get("unsubscribe_reason") or "",
            contact_id=member.get("contact_id") or None,
        )

    @property
    def consent_detail(self) -> str:
        """The `consent_events.detail` of a consent change caused by this member."""
        return f"{self.status}: {self.reason or DEFAULT_REASONS.get(self.status, self.status)}"


@dataclass
class PagePlan:
    """What one page changes."""

    updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    opt_outs: list[PulledMember] = field(default_factory=list)
    resubscribes: list[PulledMember] = field(default_factory=list)
    moves: list[tuple[str, PulledMember]] = field(default_factory=list)  # (old hash, member)


def plan_page(members: list[PulledMember], baseline: dict[str, dict[str, Any]], now: datetime,
              by_contact: dict[str, str] | None = None, *, own_tags: bool = True) -> PagePlan:
    """Compare pulled members with the state. `baseline`: hash → the member's state row
    (`PULLED_COLUMNS`) for the tracked members of the page; `by_contact`: Mailchimp contact id →
    hash of tracked members that may have moved to one of the page's untracked addresses.
    `own_tags`: the state records every tag the project applied (the last push finished), so
    the tags it does not list are the member's own; False after a push that died mid-way (a tag
    it added may be unrecorded: it is left to that run's re-sync, never taken for the member's)."""
    plan = PagePlan()
    for member in members:
        previous = baseline.get(member.subscriber_hash)
        if previous is None:
            old = (by_contact or {}).get(member.contact_id or "")
            if old is not None and old != member.subscriber_hash:
                plan.moves.append((old, member))
            elif member.status in lc.OPTED_OUT:
                plan.opt_outs.append(member)
            continue
        outcome = lc.after_pull(previous, member.status, now, member.last_changed)
        values = {k: v for k, v in outcome.values.items() if k != "status_read_at"}
        values.update(mailchimp_tags=member.tags, last_changed=member.last_changed)
        if member.contact_id:
            values["mailchimp_contact_id"] = member.contact_id
        have = {t.casefold() for t in member.tags}
        managed = list(previous.get("managed_tags") or [])
        kept = [t for t in managed if t.casefold() in have]
        if kept != managed and member.status in lc.EDITABLE:
            values["managed_tags"] = kept
        # every tag the project did not apply is the member's own (a marketer's, whatever its
        # name, or one it had before): never added nor removed by the project (D1, D2)
        applied = {t.casefold() for t in managed}
        own = sorted(t for t in member.tags if t.casefold() not in applied)
        if own_tags and previous.get("intent") is None and own != sorted(previous.get("prior_tags") or []):
            values["prior_tags"] = own
        if any(previous.get(k) != v for k, v in values.items()):
            plan.updates[member.subscriber_hash] = {**values, "status_read_at": now}
        if outcome.opted_out:
            plan.opt_outs.append(member)
        elif outcome.resubscribed:
            plan.resubscribes.append(member)
    return plan
