"""Time and id helpers shared by the store (all timestamps are naive UTC in the database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, as naive UTC (the database convention)."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_id() -> str:
    """A new random row id."""
    return str(uuid.uuid4())
