"""Mailchimp's documented limits and the one chunker that cuts work to them.

Pure (no httpx, no pandas): the sync core's call planning and the client's bulk calls share it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

__all__ = ["BATCH_LIMIT", "MAX_CONNECTIONS_LIMIT", "PAGE_LIMIT", "chunk"]

MAX_CONNECTIONS_LIMIT = 10  # simultaneous connections per API key
BATCH_LIMIT = 500  # members per batch subscribe, emails per segment add/remove, operations per /batches
PAGE_LIMIT = 1000  # `count` maximum on collection GETs

S = TypeVar("S")


def chunk(items: S, size: int = BATCH_LIMIT) -> Iterator[S]:
    """Consecutive slices of at most ``size`` items of a sequence (rows, for a DataFrame)."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    rows: Any = getattr(items, "iloc", items)  # a DataFrame slices its rows by position
    for start in range(0, len(items), size):  # type: ignore[arg-type]
        yield rows[start : start + size]
