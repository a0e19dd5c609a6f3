"""The emulator clock and Mailchimp's timestamp formats."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache

from .errors import invalid_field

# --------------------------------------------------------------------------------------------
# Clock and timestamps
# --------------------------------------------------------------------------------------------


class Clock:
    """Whole-second UTC clock that never goes backwards; ``advance`` shifts it for tests."""

    def __init__(self) -> None:
        self.offset = 0
        self._last = 0

    def now(self) -> int:
        """Current emulator time, epoch seconds."""
        t = int(time.time()) + self.offset
        if t < self._last:
            return self._last
        self._last = t
        return t

    def advance(self, seconds: int) -> int:
        """Move the clock forward by ``seconds``; returns the new time."""
        self.offset += max(0, int(seconds))
        return self.now()


@lru_cache(maxsize=8192)
def iso(ts: int) -> str:
    """Epoch seconds → ``2021-11-23T22:51:56+00:00`` (Mailchimp's format)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def iso_or_empty(ts: int | None) -> str:
    """ISO text, or ``""`` for unset (Mailchimp uses empty strings, never null)."""
    return iso(ts) if ts else ""


def parse_time(value: str, field: str) -> float:
    """Parse an ISO 8601 timestamp (``Z``, offsets, fractions, date-only) → epoch seconds."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise invalid_field(field, f"{value!r} is not a valid ISO 8601 date-time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


