"""Segments: which cohort members carry each segment's Mailchimp tag, and in which audience.

A segment (`contact_segments` row) has a `segment_type` (customer|employee|vendor filter on
`contact_type`, or mixed = any), `filters` over `FILTER_FIELDS`, an optional `audience_id` (None →
the org's default audience) and the `mailchimp_tag` it manages.

Filter semantics: a scalar field matches case-insensitively after trimming and its value may be a
string or a list of strings (any of them); `tags` lists tags the contact must all carry
(case-insensitive). Fields set to None or [] do not filter. A segment whose filters are invalid
gets no members and its problems are reported in the summary.

Matching works on factorised columns: each distinct value is normalised and tested once, then
rows are selected by integer code, so a segment costs a few numpy passes over the cohort.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd

from mc_pipelines.sync.desired import desired_members
from mc_pipelines.sync.text import as_tag_list

FILTER_FIELDS = frozenset(
    {"department", "location", "employment_type", "employment_status", "tags"}
)
SEGMENT_TYPES = ("customer", "employee", "vendor", "mixed")
MAX_TAG_LENGTH = 100
MEMBERSHIP_COLUMNS = ("segment_id", "audience_id", "subscriber_hash", "contact_id", "tag")
SUMMARY_COLUMNS = ("segment_id", "name", "tag", "audience_id", "member_count", "error")


@dataclass
class SegmentResult:
    """Outcome of `evaluate_segments`.

    `membership`: `MEMBERSHIP_COLUMNS`, one row per (segment, member).
    `summary`: `SUMMARY_COLUMNS`, one row per segment; `error` is None or the problems that kept
    the segment empty.
    `desired`: the desired audience state (see `desired_members`).
    """

    membership: pd.DataFrame
    summary: pd.DataFrame
    desired: pd.DataFrame


def _norm(value: str) -> str:
    return value.strip().casefold()


def validate_filters(filters: object) -> list[str]:
    """Problems that make `filters` unusable (empty list when it is fine)."""
    if filters is None:
        return []
    if not isinstance(filters, Mapping):
        return [f"filters must be an object of field → value, got {type(filters).__name__}"]
    problems: list[str] = []
    unknown = sorted(str(k) for k in filters if k not in FILTER_FIELDS)
    if unknown:
        problems.append(
            f"unknown filter field{'s' if len(unknown) > 1 else ''} "
            + ", ".join(repr(u) for u in unknown)
            + "; allowed: " + ", ".join(sorted(FILTER_FIELDS))
        )
    for name in sorted(k for k in filters if k in FILTER_FIELDS):
        value = filters[name]
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        wrong = sorted({type(v).__name__ for v in values if not isinstance(v, str)})
        if wrong:
            kind = "tag names" if name == "tags" else "a string or a list of strings"
            problems.append(f"{name}: expected {kind}, got {', '.join(wrong)}")
            continue
        if any(not v.strip() for v in values):
            what = "empty tag name" if name == "tags" else "empty value"
            problems.append(f"{name}: {what}")
    return problems


def parse_filters(raw: object) -> tuple[object, list[str]]:
    """Filters as stored (dict, JSON text or None) → (filters, parse problems)."""
    if raw is None or (isinstance(raw, float) and raw != raw):
        return {}, []
    if isinstance(raw, str):
        if not raw.strip():
            return {}, []
        try:
            return json.loads(raw), []
        except ValueError as exc:
            return None, [f"filters are not valid JSON: {exc}"]
    return raw, []


def _segment_problems(segment: Mapping[str, object], filters: object) -> list[str]:
    problems = validate_filters(filters)
    seg_type = segment.get("segment_type") or "mixed"
    if seg_type not in SEGMENT_TYPES:
        problems.append(
            f"segment_type {seg_type!r} is not one of {', '.join(SEGMENT_TYPES)}"
        )
    tag = segment.get("mailchimp_tag")
    if not isinstance(tag, str) or not tag.strip():
        problems.append("mailchimp_tag is empty")
    elif len(tag.strip()) > MAX_TAG_LENGTH:
        problems.append(f"mailchimp_tag is longer than {MAX_TAG_LENGTH} characters")
    return problems


class _Matcher:
    """The cohort's filterable columns, factorised once and shared by every segment."""

    def __init__(self, cohort: pd.DataFrame) -> None:
        self.cohort = cohort
        self.n = len(cohort)
        self._codes: dict[str, tuple[np.ndarray, list[str | None]]] = {}
        self._tags: tuple[np.ndarray, np.ndarray, dict[str, int]] | None = None

    def _factorised(self, column: str) -> tuple[np.ndarray, list[str | None]]:
        if column not in self._codes:
            if column in self.cohort.columns:
                codes, uniques = pd.factorize(self.cohort[column], use_na_sentinel=True)
                normalised = [_norm(u) if isinstance(u, str) else None for u in uniques]
            else:
                codes, normalised = np.full(self.n, -1, dtype=np.intp), []
            self._codes[column] = (codes, normalised)
        return self._codes[column]

    def scalar(self, column: str, wanted: list[str]) -> np.ndarray:
        """Rows whose `column` equals any of `wanted` (trimmed, case-insensitive)."""
        codes, normalised = self._factorised(column)
        targets = {_norm(w) for w in wanted}
        hits = [i for i, u in enumerate(normalised) if u in targets]
        return np.isin(codes, hits) if hits else np.zeros(self.n, dtype=bool)

    def _tag_index(self) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        if self._tags is None:
            values = self.cohort["tags"].tolist() if "tags" in self.cohort else [[]] * self.n
            lists = [v if type(v) is list else as_tag_list(v) for v in values]
            lengths = np.fromiter(map(len, lists), dtype=np.int64, count=self.n)
            rows = np.repeat(np.arange(self.n), lengths)
            flat = list(chain.from_iterable(lists))
            codes, uniques = pd.factorize(pd.Series(flat, dtype=object))
            # Map every raw spelling to the code of its normalised form.
            norm_ids: dict[str, int] = {}
            remap = np.empty(len(uniques), dtype=np.int64)
            for i, u in enumerate(uniques):
                remap[i] = norm_ids.setdefault(_norm(str(u)), len(norm_ids))
            norm_codes = remap[codes] if len(codes) else np.empty(0, dtype=np.int64)
            self._tags = (rows, norm_codes, norm_ids)
        return self._tags

    def all_tags(self, wanted: list[str]) -> np.ndarray:
        """Rows that carry every tag of `wanted` (case-insensitive)."""
        rows, norm_codes, norm_ids = self._tag_index()
        mask = np.ones(self.n, dtype=bool)
        for tag in {_norm(w) for w in wanted}:
            code = norm_ids.get(tag)
            if code is None:
                return np.zeros(self.n, dtype=bool)
            has = np.zeros(self.n, dtype=bool)
            has[rows[norm_codes == code]] = True
            mask &= has
        return mask

    def select(self, segment_type: str, filters: Mapping[str, object]) -> np.ndarray:
        mask = np.ones(self.n, dtype=bool)
        if segment_type != "mixed":
            mask &= self.scalar("contact_type", [segment_type])
        for name, value in filters.items():
            if value is None or value == []:
                continue
            values = value if isinstance(value, list) else [value]
            if name == "tags":
                mask &= self.all_tags(values)
            else:
                mask &= self.scalar(name, values)
        return mask


def evaluate_segments(
    cohort: pd.DataFrame,
    segments: pd.DataFrame,
    default_audience_id: str,
    merge_field_map: Mapping[str, str | None] | None = None,
) -> SegmentResult:
    """Members of every segment, the per-segment summary and the desired audience state.

    `segments` has `id`, `name`, `segment_type`, `filters`, `audience_id`, `mailchimp_tag`
    (already limited to the org's active segments). `merge_field_map` is passed on to
    `desired_members`.
    """
    membership, summary = segment_membership(cohort, segments, default_audience_id)
    desired = desired_members(cohort, membership, default_audience_id, merge_field_map)
    return SegmentResult(membership=membership, summary=summary, desired=desired)


def segment_membership(
    cohort: pd.DataFrame, segments: pd.DataFrame, default_audience_id: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(`membership`, `summary`) of `evaluate_segments`, without the desired state."""
    matcher = _Matcher(cohort)
    hashes = cohort["subscriber_hash"].to_numpy()
    contact_ids = cohort["contact_id"].to_numpy(dtype=np.int64)
    parts: dict[str, list[np.ndarray]] = {c: [] for c in MEMBERSHIP_COLUMNS}
    summary_rows: list[dict[str, object]] = []
    for seg in segments.to_dict("records"):
        filters, problems = parse_filters(seg.get("filters"))
        problems += _segment_problems(seg, filters)
        audience = seg.get("audience_id")
        if not isinstance(audience, str) or not audience.strip():
            audience = default_audience_id
        tag = seg.get("mailchimp_tag")
        tag = tag.strip() if isinstance(tag, str) else tag
        count = 0
        if not problems:
            assert isinstance(filters, Mapping)
            positions = np.flatnonzero(matcher.select(seg.get("segment_type") or "mixed", filters))
            count = len(positions)
            parts["segment_id"].append(np.full(count, seg["id"], dtype=np.int64))
            parts["audience_id"].append(np.full(count, audience, dtype=object))
            parts["subscriber_hash"].append(hashes[positions])
            parts["contact_id"].append(contact_ids[positions])
            parts["tag"].append(np.full(count, tag, dtype=object))
        summary_rows.append({
            "segment_id": seg["id"], "name": seg.get("name"), "tag": tag,
            "audience_id": audience, "member_count": count,
            "error": "; ".join(problems) if problems else None,
        })
    membership = (
        pd.DataFrame({c: np.concatenate(v) for c, v in parts.items()}, copy=False)
        if parts["tag"] else _empty_membership()
    )
    summary = pd.DataFrame(summary_rows, columns=list(SUMMARY_COLUMNS))
    summary["member_count"] = summary["member_count"].astype(np.int64)
    return membership, summary


def _empty_membership() -> pd.DataFrame:
    return pd.DataFrame({
        "segment_id": pd.Series([], dtype=np.int64),
        "audience_id": pd.Series([], dtype=object),
        "subscriber_hash": pd.Series([], dtype=object),
        "contact_id": pd.Series([], dtype=np.int64),
        "tag": pd.Series([], dtype=object),
    })
