"""Performance helpers for the million-row paths of the sync core."""

from __future__ import annotations

import gc
import threading
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


#: Collector thresholds while a phase's inputs are frozen: a young collection every 10,000 net
#: allocations (not 700), and almost no full ones (the phase's garbage is mostly acyclic dicts).
FROZEN_PHASE_THRESHOLDS = (10_000, 50, 100)
_frozen_lock = threading.Lock()
_frozen_depth = 0
_thresholds_before: tuple[int, ...] = ()


@contextmanager
def existing_objects_frozen() -> Iterator[None]:
    """Collect garbage, then leave every object that exists out of the cyclic collector's scans
    (`gc.freeze`) and collect less often (`FROZEN_PHASE_THRESHOLDS`) for the duration; at the
    end the objects go back (`gc.unfreeze`) with the thresholds they had.

    A sync's Mailchimp phase is handed million-row frames (a dict of merge fields per member)
    and then allocates a few short-lived dicts per member it sends: the collector ran ~8,000
    times during a 1M-member first load and its full collections rescanned the millions of
    objects the phase was handed (8.8 s of collections; 0.7 s now). The collection first frees what
    earlier steps left in reference cycles (a step's input frame can be one), so no garbage is
    frozen. Nothing leaks: reference counting still frees frozen objects, and cycles are
    collected after the phase. Overlapping calls (threads) share one frozen period: the first
    sets it up, the last restores the thresholds.
    """
    global _frozen_depth, _thresholds_before
    gc.collect()
    with _frozen_lock:
        if _frozen_depth == 0:
            _thresholds_before = gc.get_threshold()
            gc.set_threshold(*FROZEN_PHASE_THRESHOLDS)
        _frozen_depth += 1
        gc.freeze()
    try:
        yield
    finally:
        with _frozen_lock:
            _frozen_depth -= 1
            if _frozen_depth == 0:
                gc.unfreeze()
                gc.set_threshold(*_thresholds_before)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """`frame.to_dict("records")`, about four times faster: one list per column, zipped (values as
    Python objects, as `to_dict` gives them; the push turns every 500-row chunk into records)."""
    columns = list(frame.columns)
    return [dict(zip(columns, values, strict=True))
            for values in zip(*(frame[c].tolist() for c in frame.columns), strict=True)]
