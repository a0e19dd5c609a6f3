"""Cleaning of free-text values bound for Mailchimp: control characters out, everything else kept.

Whole columns are scanned in one regex pass over their concatenation, so the common case (no
control character anywhere) costs a join and a search instead of a regex call per row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import chain

import numpy as np
import pandas as pd

# Line breaks and tabs become a space ("John\nSmith" must not turn into "JohnSmith"); the other
# C0/C1 controls, DEL and lone surrogates (which cannot even be encoded as UTF-8) are dropped.
_SPACE_LIKE = re.compile(r"[\t\n\r\x0b\x0c]+")
_DROPPED = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_text(value: str) -> str:
    """`value` without control characters (line breaks and tabs become one space)."""
    if not _ANY_CONTROL.search(value):
        return value
    return _DROPPED.sub("", _SPACE_LIKE.sub(" ", value))


def _has_control(values: Iterable[object]) -> bool:
    strings = [v for v in values if isinstance(v, str)]
    return _blob_has_control("".join(strings))


def _blob_has_control(blob: str) -> bool:
    # isprintable() is a fast C scan that is True for most text; only when it is False
    # (controls, but also NBSP or zero-width characters) does the exact regex run.
    return not blob.isprintable() and _ANY_CONTROL.search(blob) is not None


def has_control_chars(values: pd.Series | np.ndarray) -> bool:
    """True if any string in `values` contains a control character."""
    items = values.tolist()
    try:
        blob = "".join([v for v in items if v is not None])
    except TypeError:
        return _has_control(items)
    return _blob_has_control(blob)


def clean_text_column(series: pd.Series) -> pd.Series:
    """`clean_text` applied to every string of `series` (other values untouched).

    Returns `series` itself when there is nothing to clean.
    """
    if series.dtype != object and not pd.api.types.is_string_dtype(series.dtype):
        return series
    if not has_control_chars(series):
        return series
    return pd.Series(
        [clean_text(v) if isinstance(v, str) else v for v in series.tolist()],
        index=series.index, dtype=series.dtype, name=series.name,
    )


def clean_text_array(values: np.ndarray) -> np.ndarray:
    """`clean_text_column` for a 1-d object array (returned as is when already clean)."""
    if values.dtype != object or not has_control_chars(values):
        return values
    out = np.empty(len(values), dtype=object)
    out[:] = [clean_text(v) if isinstance(v, str) else v for v in values.tolist()]
    return out


def as_tag_list(value: object) -> list[str]:
    """A contact's tags as a list of strings (None/NaN → [], a lone string → [string])."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, float) and value != value:
        return []
    try:
        return [str(t) for t in value if t is not None]  # type: ignore[union-attr]
    except TypeError:
        return [str(value)]


def clean_tags_column(series: pd.Series | np.ndarray) -> pd.Series | np.ndarray:
    """Every row as a `list[str]` of tags without control characters or empty names.

    Accepts a Series or a 1-d object array and returns the same kind; returns the input itself
    when it already is clean lists of strings.
    """
    values = series.tolist()
    if all(type(v) is list for v in values):
        # Few distinct tag names exist: check each once instead of every occurrence.
        distinct = set(chain.from_iterable(values))
        if all(type(t) is str and t.strip() and not _blob_has_control(t) for t in distinct):
            return series
    cleaned = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        tags = [clean_text(t) for t in as_tag_list(v)]
        cleaned[i] = [t for t in tags if t.strip()]
    if isinstance(series, pd.Series):
        return pd.Series(cleaned, index=series.index, name=series.name)
    return cleaned
