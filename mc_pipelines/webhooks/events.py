"""Parsing Mailchimp's form-encoded webhook deliveries (pure: no I/O).

A delivery is `application/x-www-form-urlencoded` with `type`, `fired_at` (`YYYY-MM-DD HH:MM:SS`,
UTC) and bracketed `data[...]` fields, e.g. `data[merges][FNAME]=Ann`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from mc_pipelines.mailchimp.addresses import address_key, normalize_address

EVENT_TYPES = ("subscribe", "unsubscribe", "profile", "upemail", "cleaned", "campaign")
# events that mean the address must no longer receive marketing
CONSENT_WITHDRAWING = ("unsubscribe", "cleaned")
FIRED_AT_FORMAT = "%Y-%m-%d %H:%M:%S"
_DATA_KEY = re.compile(r"^data((?:\[[^\[\]]*\])+)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


class WebhookPayloadError(ValueError):
    """The delivery is not a Mailchimp webhook event; the message says which field is wrong."""


@dataclass(frozen=True)
class WebhookEvent:
    """One Mailchimp webhook event."""

    type: str
    fired_at: datetime
    data: dict[str, Any]

    @property
    def list_id(self) -> str | None:
        """The audience the event happened in."""
        return self.data.get("list_id") or None

    @property
    def email(self) -> str | None:
        """The address the event is about (the new address for `upemail`; none for `campaign`)."""
        value = self.data.get("new_email") if self.type == "upemail" else self.data.get("email")
        return (normalize_address(value) or None) if isinstance(value, str) else None

    @property
    def dedupe_key(self) -> str:
        """sha256 of type, fired_at, list id and address (campaign id for `campaign` events):
        Mailchimp's retries of one delivery map to the same key."""
        subject = address_key(self.email) if self.email else str(self.data.get("id") or "")
        parts = [self.type, self.fired_at.strftime(FIRED_AT_FORMAT), self.list_id or "", subject]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _nest(target: dict[str, Any], path: list[str], value: str) -> None:
    for key in path[:-1]:
        child = target.setdefault(key, {})
        if not isinstance(child, dict):  # `data[x]=1&data[x][y]=2`: keep the scalar, drop the rest
            return
        target = child
    target[path[-1]] = value


def parse_event(body: bytes | str) -> WebhookEvent:
    """Parse a form-encoded delivery into a WebhookEvent, or raise WebhookPayloadError."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=1000)
    except ValueError as exc:
        raise WebhookPayloadError(f"body is not form-encoded: {exc}") from None
    fields: dict[str, str] = {}
    data: dict[str, Any] = {}
    for key, value in pairs:
        match = _DATA_KEY.match(key)
        if match:
            _nest(data, _SEGMENT.findall(match.group(1)), value)
        else:
            fields[key] = value
    event_type = fields.get("type", "")
    if event_type not in EVENT_TYPES:
        raise WebhookPayloadError(
            f"unsupported event type {event_type[:32]!r}: expected one of {', '.join(EVENT_TYPES)}")
    try:
        fired_at = datetime.strptime(fields.get("fired_at", ""), FIRED_AT_FORMAT)
    except ValueError:
        raise WebhookPayloadError("fired_at must look like 'YYYY-MM-DD HH:MM:SS'") from None
    event = WebhookEvent(type=event_type, fired_at=fired_at, data=data)
    if event.type != "campaign" and not event.email:
        raise WebhookPayloadError(f"{event_type} event without an email address in data[...]")
    return event
