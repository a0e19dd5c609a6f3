"""Performance helpers for the million-row paths of the sync core."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while allocating millions of acyclic objects.

    Building a million dicts or hashes triggers repeated full collections that rescan every
    live object (the source and cohort frames hold millions); pausing saves ~20% of those
    loops. Nothing leaks: reference counting still frees everything, and cycles created
    meanwhile are collected once the collector is back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """`frame.to_dict("records")`, about four times faster: one list per column, zipped (values as
    Python objects, as `to_dict` gives them; the push turns every 500-row chunk into records)."""
    columns = list(frame.columns)
    return [dict(zip(columns, values, strict=True))
            for values in zip(*(frame[c].tolist() for c in frame.columns), strict=True)]
