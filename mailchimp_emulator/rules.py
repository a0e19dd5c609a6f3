"""Mailchimp's member status rules: transitions, compliance state, Mailchimp-side events."""

from __future__ import annotations

from . import events
from .errors import (
    UNSUB_ADMIN,
    ApiError,
    detail_compliance,
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


def send_confirmation(lst: AudienceList, m: Member) -> None:
    """Mailchimp emails the double opt-in confirmation (counted per contact for tests)."""
    cid = m.origin[::-1]
    lst.confirmations[cid] = lst.confirmations.get(cid, 0) + 1


def apply_status(lst: AudienceList, m: Member, target: str, now: int) -> bool:
    """Move ``m`` to ``target`` through the API (call :func:`check_status_change` first).

    API/admin unsubscribes are re-subscribable; a cleaned member sent ``unsubscribed`` stays
    cleaned; moving to ``pending`` sends a confirmation email.  Queues the webhook event.
    Returns whether anything changed."""
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
    status_events(lst, m, now)
    return True


def status_events(lst: AudienceList, m: Member, now: int, action: str = "unsub") -> None:
    """The webhook event (and confirmation email) for the status ``m`` just reached."""
    if m.status == "subscribed":
        events.subscribed(lst, m, now)
    elif m.status == "unsubscribed":
        events.unsubscribed(lst, m, now, action, "manual")
    elif m.status == "archived":
        events.unsubscribed(lst, m, now, "delete", "manual")
    elif m.status == "cleaned":
        events.cleaned(lst, m, now)
    elif m.status == "pending":
        send_confirmation(lst, m)
