"""The desired state of every audience: who should be in it, with which merge fields and tags.

The org's default audience holds the whole cohort; a segment pointing to another audience adds
its members to that audience. `managed_tags` are the tags of the segments pointing to the
member's audience that contain the member. `payload_hash` fingerprints what a member upsert
sends (email + merge fields), so unchanged members cost nothing on the next run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from itertools import repeat

import numpy as np
import pandas as pd

from mc_pipelines.sync._perf import gc_paused
from mc_pipelines.sync.app_tags import app_tag_membership
from mc_pipelines.sync.text import clean_text, clean_text_column

DEFAULT_MERGE_FIELDS: dict[str, str] = {"FNAME": "first_name", "LNAME": "last_name", "PHONE": "phone"}
MAX_MERGE_VALUE_LENGTH = 255
DESIRED_COLUMNS = (
    "audience_id", "subscriber_hash", "contact_id", "email", "merge_fields", "managed_tags",
    "payload_hash", "truncated",
)
# Merge field types whose value Mailchimp parses rather than stores as text.
_NUMERIC_TYPES = {"number"}
_OBJECT_TYPES = {"address"}
_MASK_BITS = 62


def effective_merge_field_map(custom: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """`DEFAULT_MERGE_FIELDS` overlaid with the org's map (merge TAG → source column).

    Tags are upper-cased as Mailchimp spells them; mapping a tag to None or "" removes it (for
    audiences without, say, a PHONE field).
    """
    merged = dict(DEFAULT_MERGE_FIELDS)
    for tag, column in (custom or {}).items():
        key = str(tag).strip().upper()
        if column is None or (isinstance(column, str) and not column.strip()):
            merged.pop(key, None)
        else:
            merged[key] = str(column).strip()
    return merged


def check_merge_field_map(
    merge_field_map: Mapping[str, str | None] | None,
    audience_merge_fields: list[dict],
    source_columns: Mapping[str, object] | Iterable[str],
) -> list[str]:
    """Problems with sending `merge_field_map` to an audience (empty list when it is fine).

    `merge_field_map`: the org's custom map (it is overlaid on the defaults, as
    `desired_members` does). `audience_merge_fields`: Mailchimp's merge-field objects (`tag`,
    `type`, `required`, …). `source_columns`: column names, or a name → dtype mapping such as
    `DataFrame.dtypes` (without dtypes only `id` counts as numeric).
    """
    fmap = effective_merge_field_map(merge_field_map)
    defined = {str(f.get("tag", "")).upper(): f for f in audience_merge_fields}
    dtypes: dict[str, object] | None
    if isinstance(source_columns, Mapping):
        dtypes = dict(source_columns)
    elif isinstance(source_columns, pd.Series):
        dtypes = source_columns.to_dict()
    else:
        dtypes = None
    columns = set(dtypes) if dtypes is not None else set(source_columns)
    problems: list[str] = []
    audience_tags = ", ".join(sorted(defined)) or "(none)"
    for tag, column in sorted(fmap.items()):
        if tag == "EMAIL":
            problems.append(
                "merge field EMAIL cannot be mapped: the address is sent as email_address"
            )
            continue
        if column not in columns:
            problems.append(
                f"merge field {tag} maps to unknown column {column!r}; "
                f"available columns: {', '.join(sorted(map(str, columns)))}"
            )
        if tag not in defined:
            problems.append(
                f"merge field {tag} is not defined in the audience; its merge fields are: "
                f"{audience_tags}"
            )
            continue
        ftype = str(defined[tag].get("type", "text"))
        if ftype in _NUMERIC_TYPES and column in columns and not _is_numeric(column, dtypes):
            problems.append(
                f"merge field {tag} is a number field but column {column!r} holds text"
            )
        if ftype in _OBJECT_TYPES:
            problems.append(
                f"merge field {tag} is an address field, which needs an object, not text "
                f"from column {column!r}"
            )
    for tag, definition in sorted(defined.items()):
        if definition.get("required") and tag not in fmap and tag != "EMAIL":
            problems.append(
                f"merge field {tag} is required by the audience but nothing is mapped to it"
            )
    return problems


def _is_numeric(column: str, dtypes: Mapping[str, object] | None) -> bool:
    if dtypes is None:
        return column in {"id", "contact_id"}
    dtype = dtypes[column]
    try:
        return bool(pd.api.types.is_numeric_dtype(dtype)) and not pd.api.types.is_bool_dtype(dtype)
    except TypeError:
        return False


def desired_members(
    cohort: pd.DataFrame,
    membership: pd.DataFrame,
    default_audience_id: str,
    merge_field_map: Mapping[str, str | None] | None = None,
    app_tag_prefix: str | None = None,
) -> pd.DataFrame:
    """One row per (audience_id, subscriber_hash) that should be in Mailchimp.

    `app_tag_prefix`: when not None (connection option `push_app_tags`), each contact's own app
    tags are managed tags of the default audience too, named prefix + tag (`sync.app_tags`).

    Columns `DESIRED_COLUMNS`: `merge_fields` is a dict TAG → str (None → ""), values over
    255 characters cut to 255 and flagged in `truncated`; `managed_tags` a sorted tuple;
    `payload_hash` the md5 of the email and the merge fields in sorted tag order (not the
    status, not the tags), stable across runs and processes. Rows come per audience (the
    default first), in cohort order.
    """
    fmap = effective_merge_field_map(merge_field_map)
    missing = sorted({c for c in fmap.values() if c not in cohort.columns})
    if missing:
        raise ValueError(
            f"merge-field map uses columns the cohort does not have: {', '.join(missing)}"
        )
    n = len(cohort)
    tags = sorted(fmap)
    with gc_paused():
        columns: list[list[str]] = []
        truncated = np.zeros(n, dtype=bool)
        for tag in tags:
            values, cut = _merge_values(cohort[fmap[tag]])
            columns.append(values)
            truncated |= cut
        emails = cohort["email"].tolist()
        # One pass per tag filling empty dicts is 2x faster than dict(zip(tags, row)) per row.
        merge_fields: list[dict[str, str]] = [{} for _ in range(n)]
        for tag, values in zip(tags, columns, strict=True):
            for fields, value in zip(merge_fields, values, strict=False):
                fields[tag] = value
        payload_hashes = _payload_hashes(emails, tags, columns)

    if app_tag_prefix is not None:
        membership = pd.concat(
            [membership, app_tag_membership(cohort, default_audience_id, app_tag_prefix)],
            ignore_index=True)
    contact_ids = cohort["contact_id"].to_numpy(dtype=np.int64)
    positions = pd.Index(contact_ids).get_indexer(membership["contact_id"].to_numpy(np.int64))
    member_aud = membership["audience_id"].to_numpy(dtype=object, copy=True)
    member_aud[pd.isna(member_aud) | (member_aud == "")] = default_audience_id
    member_tag = membership["tag"].to_numpy(dtype=object)
    known = positions >= 0
    positions, member_aud, member_tag = positions[known], member_aud[known], member_tag[known]

    others = sorted({a for a in pd.unique(member_aud) if a != default_audience_id})
    audiences = [default_audience_id, *others]
    columns_out: dict[str, list[np.ndarray]] = {c: [] for c in DESIRED_COLUMNS}
    hashes = cohort["subscriber_hash"].to_numpy(dtype=object)
    email_arr = np.asarray(emails, dtype=object)
    merge_arr = _object_array(merge_fields)
    payload_arr = np.asarray(payload_hashes, dtype=object)
    for audience in audiences:
        in_aud = member_aud == audience
        is_default = audience == default_audience_id
        rows = np.arange(n) if is_default else np.unique(positions[in_aud])
        managed = _managed_tags(n, positions[in_aud], member_tag[in_aud])[rows]
        columns_out["audience_id"].append(np.full(len(rows), audience, dtype=object))
        columns_out["subscriber_hash"].append(hashes[rows])
        columns_out["contact_id"].append(contact_ids[rows])
        columns_out["email"].append(email_arr[rows])
        columns_out["merge_fields"].append(merge_arr[rows])
        columns_out["managed_tags"].append(managed)
        columns_out["payload_hash"].append(payload_arr[rows])
        columns_out["truncated"].append(truncated[rows])
    return pd.DataFrame(
        {c: np.concatenate(parts) for c, parts in columns_out.items()}, copy=False
    )


def payload_hash(email: str, merge_fields: Mapping[str, str]) -> str:
    """The `payload_hash` of one member (same value `desired_members` computes)."""
    tags = sorted(merge_fields)
    return _payload_hashes([email], tags, [[merge_fields[t]] for t in tags])[0]


def _payload_hashes(emails: list[str], tags: list[str], columns: list[list[str]]) -> list[str]:
    # NUL separates the parts: merge values are cleaned of control characters and a valid
    # address has none, so the encoding is unambiguous without escaping.
    md5 = hashlib.md5
    interleaved: list[Iterable[str]] = [emails]
    for tag, values in zip(tags, columns, strict=True):
        interleaved += [repeat(tag), values]
    return [
        md5("\x00".join(parts).encode("utf-8")).hexdigest() for parts in zip(*interleaved, strict=False)
    ]


def _merge_values(series: pd.Series) -> tuple[list[str], np.ndarray]:
    """A source column as merge-field text: None → "", cleaned, cut to 255 characters."""
    values = _as_text(series)
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    cut = lengths > MAX_MERGE_VALUE_LENGTH
    for i in np.flatnonzero(cut):
        values[i] = values[i][:MAX_MERGE_VALUE_LENGTH]
    return values, cut


def _as_text(series: pd.Series) -> list[str]:
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if isinstance(dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        text = np.datetime_as_string(series.to_numpy(dtype="datetime64[ns]"), unit="D")
        return ["" if t == "NaT" else t for t in text.tolist()]
    if pd.api.types.is_bool_dtype(dtype):
        return ["true" if v else "false" for v in series.tolist()]
    series = clean_text_column(series)
    if series.dtype == object:
        filled = series.fillna("")
        if pd.api.types.infer_dtype(filled, skipna=False) == "string":
            return filled.tolist()
    return [v if type(v) is str else _to_text(v) for v in series.tolist()]


def _to_text(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float):
        if value != value:
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(_to_text(v) for v in value)
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return clean_text(str(value))


def _managed_tags(n: int, positions: np.ndarray, tags: np.ndarray) -> np.ndarray:
    """Per cohort row, the sorted tuple of `tags` whose (position, tag) pairs include it.

    Each distinct tag gets a bit; rows are grouped by bit pattern (few distinct patterns), and
    each pattern is decoded to its tuple once.
    """
    distinct = sorted(set(tags.tolist()))
    if not distinct:
        return _object_array([()])[np.zeros(n, dtype=np.intp)]
    words = [np.zeros(n, dtype=np.int64) for _ in range(-(-len(distinct) // _MASK_BITS))]
    code_of = {t: i for i, t in enumerate(distinct)}
    tag_codes = np.fromiter((code_of[t] for t in tags.tolist()), dtype=np.int64, count=len(tags))
    for j in range(len(distinct)):
        word, bit = divmod(j, _MASK_BITS)
        words[word][positions[tag_codes == j]] |= np.int64(1) << bit
    if len(words) == 1:
        codes, uniques = pd.factorize(words[0])
        patterns = [(int(u),) for u in uniques]
    else:
        codes, uniq_index = pd.factorize(pd.MultiIndex.from_arrays(words))
        patterns = [tuple(int(x) for x in u) for u in uniq_index]
    decoded = _object_array([
        tuple(
            distinct[w * _MASK_BITS + b]
            for w, word in enumerate(pattern)
            for b in range(_MASK_BITS)
            if word >> b & 1
        )
        for pattern in patterns
    ])
    return decoded[codes]


def _object_array(items: list) -> np.ndarray:
    """A 1-d object array of `items` (np.asarray would unpack tuples into a 2-d array)."""
    return np.fromiter(items, dtype=object, count=len(items))
