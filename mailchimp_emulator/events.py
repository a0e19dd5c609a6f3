"""Webhook events (MAILCHIMP.md §9): what happened to a member, queued on its audience.

State changes call :func:`emit` synchronously (inside the one event loop, so the order is the
order of the changes); the caller that knows *who* acted (the API, the person, a marketer) then
hands the audience's outbox to the dispatcher (``webhook_delivery.py``) with that source.
Nothing is queued for an audience without webhooks (bulk loads and benchmarks pay nothing)."""

from __future__ import annotations

from typing import Any

from .model import AudienceList, Member
from .rendering import merge_dict

EVENT_TYPES = ("subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign")


def _merges(lst: AudienceList, m: Member) -> dict[str, Any]:
    return {"EMAIL": m.email, **merge_dict(lst, m.mf)}


def _member_data(lst: AudienceList, m: Member) -> dict[str, Any]:
    return {
        "id": m.h[7:17],
        "list_id": lst.id,
        "email": m.email,
        "email_type": m.get_extra("email_type", "html"),
        "merges": _merges(lst, m),
        "ip_opt": m.get_extra("ip_opt", ""),
    }


def emit(lst: AudienceList, kind: str, data: dict[str, Any], now: int) -> None:
    """Queue one event for the audience's webhooks (no-op without webhooks)."""
    if lst.webhooks:
        lst.outbox.append((kind, data, now))


def subscribed(lst: AudienceList, m: Member, now: int) -> None:
    """``subscribe``: the member became subscribed."""
    if lst.webhooks:
        data = {**_member_data(lst, m), "ip_signup": m.get_extra("ip_signup", "")}
        emit(lst, "subscribe", data, now)


def unsubscribed(lst: AudienceList, m: Member, now: int, action: str, reason: str) -> None:
    """``unsubscribe``: ``action`` ``unsub`` (unsubscribed) or ``delete`` (archived)."""
    if lst.webhooks:
        data = {**_member_data(lst, m), "action": action, "reason": reason, "campaign_id": ""}
        emit(lst, "unsubscribe", data, now)


def profile(lst: AudienceList, m: Member, now: int) -> None:
    """``profile``: the member's merge fields changed."""
    if lst.webhooks:
        emit(lst, "profile", _member_data(lst, m), now)


def upemail(lst: AudienceList, old_email: str, m: Member, now: int) -> None:
    """``upemail``: the member's address changed (``new_id`` = its new unique id)."""
    if lst.webhooks:
        data = {
            "list_id": lst.id,
            "new_id": m.h[7:17],
            "new_email": m.email,
            "old_email": old_email,
        }
        emit(lst, "upemail", data, now)


def cleaned(lst: AudienceList, m: Member, now: int, reason: str = "hard") -> None:
    """``cleaned``: the address bounced (``hard``) or was reported (``abuse``)."""
    if lst.webhooks:
        data = {"list_id": lst.id, "campaign_id": "", "reason": reason, "email": m.email}
        emit(lst, "cleaned", data, now)
