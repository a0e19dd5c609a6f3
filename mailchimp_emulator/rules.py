"""Mailchimp's member status rules: transitions, compliance state, Mailchimp-side events."""

from __future__ import annotations

from .errors import (
    MEMBER_EVENTS,
    UNSUB_ADMIN,
    UNSUB_REVIEW,
    UNSUB_SELF,
    ApiError,
    detail_compliance,
    enum_error,
    invalid_field,
)
from .model import AudienceList, Member

# --------------------------------------------------------------------------------------------
# Status rules
# --------------------------------------------------------------------------------------------


def check_status_change(m: Member, target: str, email: str | None = None) -> None:
    """Raise 400 Member In Compliance State if Mailchimp refuses moving ``m`` to ``target``.

    Self-unsubscribed members may go to ``pending`` (double opt-in) but not ``subscribed``;
    cleaned and compliance-review members may go neither to ``subscribed`` nor ``pending``."""
    if target == m.status:
        return
    blocked = m.compliance or ("cleaned" if m.status == "cleaned" else None)
    if blocked is None:
        return
    if target == "subscribed" or (
        target in ("pending", "transactional") and blocked != "unsubscribe"
    ):
        raise ApiError(
            400, "Member In Compliance State", detail_compliance(email or m.email), with_type=False
        )


def apply_status(lst: AudienceList, m: Member, target: str, now: int) -> bool:
    """Move ``m`` to ``target`` through the API (call :func:`check_status_change` first).

    API/admin unsubscribes are re-subscribable; a cleaned member sent ``unsubscribed`` stays
    cleaned.  Returns whether anything changed."""
    if target == m.status or (m.status == "cleaned" and target == "unsubscribed"):
        return False
    if target == "unsubscribed":
        if m.compliance is None or m.get_extra("unsubscribe_reason") == "":
            m.set_extra("unsubscribe_reason", UNSUB_ADMIN)
    elif target == "cleaned":
        m.compliance = "cleaned"
    else:
        m.set_extra("unsubscribe_reason", None)
    lst.set_status(m, target, now)
    return True


def member_event(lst: AudienceList, m: Member, kind: str, now: int) -> None:
    """A Mailchimp-side event (admin route): what a contact or Mailchimp does, not the API."""
    if kind == "unsubscribe":
        m.compliance = "unsubscribe"
        m.set_extra("unsubscribe_reason", UNSUB_SELF)
        lst.set_status(m, "unsubscribed", now)
    elif kind == "admin_unsubscribe":
        m.set_extra("unsubscribe_reason", UNSUB_ADMIN)
        lst.set_status(m, "unsubscribed", now)
    elif kind == "cleaned":
        m.compliance = "cleaned"
        m.set_extra("unsubscribe_reason", None)
        lst.set_status(m, "cleaned", now)
    elif kind == "compliance_review":
        m.compliance = "review"
        m.set_extra("unsubscribe_reason", UNSUB_REVIEW)
        lst.set_status(m, "unsubscribed", now)
    elif kind in ("confirm", "subscribe"):
        if kind == "confirm" and m.status != "pending":
            raise invalid_field("type", "confirm applies to pending members only")
        m.compliance = None
        m.set_extra("unsubscribe_reason", None)
        lst.set_status(m, "subscribed", now)
    else:
        raise enum_error("type", MEMBER_EVENTS)
    lst.touch(m, now)


