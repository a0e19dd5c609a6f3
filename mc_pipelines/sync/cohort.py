"""The cohort: the org's contacts that may be in Mailchimp (consent on, usable address, one per hash).

Rules, in order:
1. consent gate — only `marketing_consent` true goes on;
2. email normalisation and validation — invalid addresses are *rejected* with the reason, never
   silently dropped;
3. dedupe on the subscriber hash — the most recently updated contact wins (tie: lowest id); the
   others are rejected as `duplicate_email`, naming the winner.
Text fields lose NUL and other control characters; everything else (accents, emoji, scripts) is
kept as the contact wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mc_pipelines.sync._perf import gc_paused
from mc_pipelines.sync.emails import email_problems, normalise_emails, subscriber_hashes
from mc_pipelines.sync.text import (
    clean_tags_column,
    clean_text,
    clean_text_array,
    clean_text_column,
)

TEXT_COLUMNS = (
    "first_name", "last_name", "phone", "department", "location", "employment_type",
    "employment_status",
)
COHORT_COLUMNS = (
    "contact_id", "email", "subscriber_hash", "first_name", "last_name", "phone", "contact_type",
    "department", "location", "employment_type", "employment_status", "tags",
    "marketing_consent", "updated_at",
)
REJECTED_COLUMNS = ("contact_id", "email", "reason", "detail")
# Columns that are not free text: validated elsewhere or constrained by the database.
_NOT_FREE_TEXT = frozenset({"email", "subscriber_hash", "org_id", "contact_type"})
INVALID_EMAIL = "invalid_email"
DUPLICATE_EMAIL = "duplicate_email"


@dataclass
class CohortResult:
    """Outcome of `build_cohort`.

    `cohort`: one row per subscriber hash — `COHORT_COLUMNS` first, then any other source
    column (e.g. ones a custom merge-field map uses). `rejected`: `REJECTED_COLUMNS`.
    `counts`: read = no_consent + invalid + duplicates + consented, where consented is the
    size of the cohort.
    """

    cohort: pd.DataFrame
    rejected: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


def build_cohort(source: pd.DataFrame) -> CohortResult:
    """Apply the consent gate, email validation and dedupe to the org's live contacts.

    `source`: the org's live contacts with the contacts-table columns (`id`, `email`, names,
    `phone`, `contact_type`, the segment fields, `marketing_consent`, `tags`, `updated_at`…);
    it is not modified.
    """
    with gc_paused():
        return _build_cohort(source)


def _build_cohort(source: pd.DataFrame) -> CohortResult:
    read = len(source)
    consent = source["marketing_consent"].eq(True).to_numpy(dtype=bool, na_value=False)
    consent_pos = np.flatnonzero(consent)
    ids = source["id"].to_numpy(dtype=np.int64)

    emails = normalise_emails(source["email"].iloc[consent_pos]).to_numpy()
    problems = email_problems(pd.Series(emails, dtype=object)).to_numpy()
    invalid_mask = pd.notna(problems)
    invalid = pd.DataFrame({
        "contact_id": ids[consent_pos[invalid_mask]],
        "email": [_displayable(e) for e in emails[invalid_mask].tolist()],
        "reason": INVALID_EMAIL,
        "detail": problems[invalid_mask].tolist(),
    })

    # Positions into `source` of the valid rows, with their emails and hashes.
    valid_pos = consent_pos[~invalid_mask]
    valid_emails = emails[~invalid_mask]
    hashes = subscriber_hashes(pd.Series(valid_emails, dtype=object)).to_numpy()
    ts = _as_epoch_ns(source["updated_at"])[valid_pos]
    winners, losers = _dedupe(hashes, ts, ids[valid_pos])
    duplicates = _duplicate_rows(ids[valid_pos], ts, valid_emails, hashes, winners, losers)

    keep = valid_pos[winners]
    columns: dict[str, object] = {
        "contact_id": ids[keep],
        "email": valid_emails[winners],
        "subscriber_hash": hashes[winners],
    }
    rest = [*COHORT_COLUMNS[3:]] + [
        c for c in source.columns if c not in COHORT_COLUMNS and c not in ("id", "email")
    ]
    for col in rest:
        if col == "marketing_consent":
            values = np.ones(len(keep), dtype=bool)
        elif col in source.columns:
            values = _take(source[col], keep)
        elif col == "tags":
            values = np.empty(len(keep), dtype=object)
            values[:] = [[] for _ in range(len(keep))]
        else:
            values = np.full(len(keep), None, dtype=object)
        if col == "tags":
            values = clean_tags_column(values)
        elif isinstance(values, np.ndarray) and values.dtype == object and (
            col in TEXT_COLUMNS or col not in _NOT_FREE_TEXT
        ):
            values = clean_text_array(values)
        elif (not isinstance(values, np.ndarray) and col not in _NOT_FREE_TEXT
              and pd.api.types.is_string_dtype(values.dtype)):  # pandas string dtype
            values = clean_text_column(pd.Series(values)).array
        columns[col] = values
    cohort = pd.DataFrame(columns, copy=False)

    parts = [frame for frame in (invalid, duplicates) if len(frame)]
    rejected = pd.concat(parts, ignore_index=True) if parts else _empty_rejected()
    rejected["contact_id"] = rejected["contact_id"].astype(np.int64)
    counts = {
        "read": read,
        "no_consent": read - len(consent_pos),
        "invalid": len(invalid),
        "duplicates": len(duplicates),
        "consented": len(cohort),
    }
    return CohortResult(cohort=cohort, rejected=rejected, counts=counts)


def _take(column: pd.Series, positions: np.ndarray) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """`column` at `positions`: a numpy array, or an extension array for extension dtypes
    (tz-aware timestamps, Int64, pandas string…), which keep their dtype."""
    if isinstance(column.dtype, np.dtype):
        return column.to_numpy()[positions]
    return column.array.take(positions)


def _dedupe(hashes: np.ndarray, ts: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (ascending) of the winners and of the losers of the hash dedupe."""
    # lexsort sorts by the last key first: newest first (~ts reverses the order without the
    # overflow that negating NaT's INT64_MIN would cause), then lowest id.
    order = np.lexsort((ids, ~ts))
    dup_sorted = pd.Series(hashes[order], dtype=object).duplicated(keep="first").to_numpy()
    return np.sort(order[~dup_sorted]), np.sort(order[dup_sorted])


def _as_epoch_ns(values: pd.Series) -> np.ndarray:
    """Timestamps as int64 nanoseconds; missing ones sort as the oldest."""
    ts = values
    if not pd.api.types.is_datetime64_any_dtype(ts.dtype):
        ts = pd.to_datetime(ts, utc=True, errors="coerce", format="mixed")
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _duplicate_rows(
    ids: np.ndarray, ts: np.ndarray, emails: np.ndarray, hashes: np.ndarray,
    winners: np.ndarray, losers: np.ndarray,
) -> pd.DataFrame:
    """Rejections of the dedupe losers, each naming the contact that won its address."""
    if len(losers) == 0:
        return _empty_rejected()
    loser_hashes = set(hashes[losers].tolist())
    relevant = winners[pd.Series(hashes[winners], dtype=object).isin(loser_hashes).to_numpy()]
    winner_of = {hashes[p]: p for p in relevant.tolist()}
    details = []
    for pos in losers.tolist():
        w = winner_of[hashes[pos]]
        why = ("which was updated more recently" if ts[w] != ts[pos]
               else "which has the same update time and a lower id")
        same = "same address" if emails[w] == emails[pos] else f"same address ({emails[w]})"
        details.append(f"{same} as contact {ids[w]}, {why}")
    return pd.DataFrame({
        "contact_id": ids[losers],
        "email": emails[losers].tolist(),
        "reason": DUPLICATE_EMAIL,
        "detail": details,
    })


def _displayable(email: object) -> str | None:
    """The rejected address as it can be stored and shown (control characters escaped)."""
    if not isinstance(email, str):
        return None
    if clean_text(email) == email:
        return email
    return "".join(c if clean_text(c) == c else f"\\x{ord(c):02x}" for c in email)


def _empty_rejected() -> pd.DataFrame:
    return pd.DataFrame({
        "contact_id": np.empty(0, dtype=np.int64),
        "email": np.empty(0, dtype=object),
        "reason": np.empty(0, dtype=object),
        "detail": np.empty(0, dtype=object),
    }, copy=False)
