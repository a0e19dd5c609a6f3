"""What people and marketers do in Mailchimp itself (not through the API key): the admin routes'
``events``.  Each returns the webhook source it counts as: ``user`` (the person: unsubscribe
link, signup form, confirmation click, profile page) or ``admin`` (a marketer in the UI,
Mailchimp's bounce processing and compliance team)."""

from __future__ import annotations

from typing import Any

from . import events
from .emails import email_problem, subscriber_hash
from .errors import (
    MEMBER_EVENTS,
    UNSUB_ADMIN,
    UNSUB_REVIEW,
    UNSUB_SELF,
    ApiError,
    enum_error,
    invalid_field,
)
from .members import fresh_member, prepare_email_change
from .merge_fields import MergeError, merge_values
from .model import AudienceList, Member
from .rules import status_events

SOURCES = {
    "unsubscribe": "user",
    "subscribe": "user",
    "confirm": "user",
    "profile": "user",
    "admin_unsubscribe": "admin",
    "archive": "admin",
    "cleaned": "admin",
    "compliance_review": "admin",
}
SIGNUP_SOURCE = "Hosted Signup Form"


def _set(lst: AudienceList, m: Member, status: str, now: int, action: str = "unsub") -> None:
    lst.set_status(m, status, now)
    lst.touch(m, now)
    status_events(lst, m, now, action)


def signup(lst: AudienceList, email: str, body: dict[str, Any], now: int) -> Member:
    """A new person signs up on the hosted form (no double opt-in here): subscribed."""
    problem = email_problem(email)
    if problem:
        raise ApiError(400, "Invalid Resource", problem)
    try:
        mf = merge_values(lst, body.get("merge_fields"), None, True)
    except MergeError as exc:
        raise exc.api_error() from None
    h = subscriber_hash(email)
    lst.forgotten.discard(h)  # re-subscribing themselves is how a forgotten contact comes back
    m = fresh_member(h, email, "subscribed", mf, now)
    m.set_extra("source", SIGNUP_SOURCE)
    lst.insert(m)
    status_events(lst, m, now)
    return m


def _profile(lst: AudienceList, m: Member, body: dict[str, Any], now: int) -> None:
    email = body.get("email_address")
    new_h = prepare_email_change(lst, m, email) if email else None
    try:
        mf = merge_values(lst, body.get("merge_fields"), m.mf, True)
    except MergeError as exc:
        raise exc.api_error() from None
    if new_h is None and mf == m.mf:
        return
    if new_h is not None:
        old_email = m.email
        if new_h == m.h:
            m.email = email
        else:
            lst.rekey(m, email, new_h, now)
        events.upemail(lst, old_email, m, now)
    if mf != m.mf:
        m.mf = mf
        events.profile(lst, m, now)
    lst.touch(m, now)


def member_event(lst: AudienceList, m: Member, kind: str, body: dict[str, Any], now: int) -> str:
    """Apply one Mailchimp-side event to ``m``; returns its webhook source."""
    if kind == "unsubscribe":
        m.compliance = "unsubscribe"
        m.set_extra("unsubscribe_reason", body.get("reason") or UNSUB_SELF)
        _set(lst, m, "unsubscribed", now)
    elif kind == "admin_unsubscribe":
        m.set_extra("unsubscribe_reason", UNSUB_ADMIN)
        _set(lst, m, "unsubscribed", now)
    elif kind == "cleaned":
        m.compliance = "cleaned"
        m.set_extra("unsubscribe_reason", None)
        _set(lst, m, "cleaned", now)
    elif kind == "compliance_review":
        m.compliance = "review"
        m.set_extra("unsubscribe_reason", UNSUB_REVIEW)
        _set(lst, m, "unsubscribed", now)
    elif kind in ("confirm", "subscribe"):
        if kind == "confirm" and m.status != "pending":
            raise invalid_field("type", "confirm applies to pending members only")
        m.compliance = None
        m.set_extra("unsubscribe_reason", None)
        _set(lst, m, "subscribed", now)
    elif kind == "archive":
        if m.status == "archived":
            raise invalid_field("type", "the member is already archived")
        _set(lst, m, "archived", now)
    elif kind == "profile":
        _profile(lst, m, body, now)
    else:
        raise enum_error("type", MEMBER_EVENTS)
    lst.touch(m, now)
    return SOURCES[kind]
