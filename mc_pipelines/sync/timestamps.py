"""Mailchimp's timestamps in the database convention (naive UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_mailchimp_time(value: Any) -> datetime | None:
    """ISO-8601 (`2021-11-23T22:51:56+00:00`, `Z`, offsets) as naive UTC; `""` (Mailchimp's
    "unset") and None → None."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
