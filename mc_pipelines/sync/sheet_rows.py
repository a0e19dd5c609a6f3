"""Validating an imported contacts sheet (pure; pandera): which rows and cells can be used.

The whole file is validated before anything is planned or written. File-level problems — no
`email` column, no `tag:<name>` column, two columns for one tag — refuse the file (`SheetError`,
naming the fix). Row-level problems are reported and the row is ignored: an `email` that is not
a valid address, a `contact_id` that is not a number, an `audience_id` that is too long, the same
address twice for one audience. A tag cell holding anything but `Y`, `N` or nothing is ignored
and counted (the rest of its row is used). Spreadsheet row numbers (header = row 1) identify rows.

In a row the export wrote (its `sync_status` and `mailchimp_tags` cells filled in), only the cells
that differ from `mailchimp_tags` (the member's tags when exported) are instructions; a row typed
by hand instructs with every `Y`/`N` cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from mc_pipelines.errors import FixableError
from mc_pipelines.sync.emails import email_is_valid, normalise_emails, subscriber_hashes
from mc_pipelines.sync.sheet_format import NO, TAG_COLUMN_PREFIX, YES, base_tags, tag_of_column

ROW_COLUMNS = ("row", "email", "subscriber_hash", "contact_id", "audience_id", "wants")
MALFORMED_COLUMNS = ("row", "contact_id", "reason")
FIRST_DATA_ROW = 2
SAMPLES = 20


class SheetError(FixableError):
    """The sheet cannot be imported as a whole; the message says what to fix. Nothing written."""


@dataclass
class SheetRows:
    """A validated sheet.

    `rows`: `ROW_COLUMNS`, one per usable row — `email` normalised, `contact_id` as given (None if
    blank), `audience_id` as given ("" = the default audience), `wants` the (tag, True for `Y`)
    pairs of its `Y`/`N` cells. `malformed`: `MALFORMED_COLUMNS`, rows ignored and why.
    `invalid_cells`: tag cells that were not `Y`/`N`/empty (ignored), with up to `SAMPLES`
    (row, column, value) examples. `tags`: the tag of each tag column.
    """

    rows: pd.DataFrame
    malformed: pd.DataFrame
    tags: dict[str, str]
    invalid_cells: int = 0
    invalid_samples: list[tuple[int, str, str]] = field(default_factory=list)


def _yes_no(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip().str.upper().isin([YES, NO, ""])


def _email_ok(series: pd.Series) -> pd.Series:
    return email_is_valid(normalise_emails(series.astype(str)))


def sheet_schema(tag_columns: list[str]) -> pa.DataFrameSchema:
    """The pandera schema of a contacts sheet (every cell is text)."""
    return pa.DataFrameSchema({
        "email": pa.Column(object, pa.Check(_email_ok, error="not a valid email address")),
        "contact_id": pa.Column(object, pa.Check.str_matches(r"^\s*\d{0,18}\s*$",
                                                             error="not a contact id (digits)"),
                                required=False),
        "audience_id": pa.Column(object, pa.Check.str_length(max_value=64,
                                                             error="longer than 64 characters"),
                                 required=False),
        **{c: pa.Column(object, pa.Check(_yes_no, error="not Y or N")) for c in tag_columns},
    }, strict=False)


def validate_sheet(raw: pd.DataFrame) -> SheetRows:
    """Validate a sheet read as text cells (see the module doc)."""
    if "email" not in raw.columns:
        raise SheetError("the sheet has no `email` column: import the file the contacts export "
                         "wrote (its header row names the columns)")
    tags = {c: t for c in raw.columns if (t := tag_of_column(c)) is not None}
    if not tags:
        raise SheetError(f"the sheet has no tag column (headed `{TAG_COLUMN_PREFIX}<name>`): export "
                         "the contacts first and edit the Y/N cells of its tag columns")
    folded: dict[str, str] = {}
    for column, tag in tags.items():
        if tag.casefold() in folded:
            raise SheetError(f"columns {folded[tag.casefold()]!r} and {column!r} name the same tag "
                             "(tags ignore case): keep one of them")
        folded[tag.casefold()] = column
    raw = raw.reset_index(drop=True)
    failures = _failures(raw, list(tags))
    row_numbers = raw.index.to_numpy() + FIRST_DATA_ROW
    reasons: dict[int, str] = {}
    bad_cells: set[tuple[int, str]] = set()
    samples: list[tuple[int, str, str]] = []
    for column, check, index in failures:
        if column in tags:
            bad_cells.add((index, column))
            if len(samples) < SAMPLES:
                samples.append((int(row_numbers[index]), column, str(raw.at[index, column])[:40]))
        else:
            reasons.setdefault(index, f"{column}: {check}")

    emails = normalise_emails(raw["email"].astype(str))
    hashes = subscriber_hashes(emails)
    audience = raw["audience_id"].astype(str).str.strip() if "audience_id" in raw else \
        pd.Series("", index=raw.index)
    given = raw["contact_id"].astype(str).str.strip() if "contact_id" in raw else \
        pd.Series("", index=raw.index)
    key = audience + "\x00" + hashes.fillna("")
    twice = key.duplicated(keep=False).to_numpy()
    for _, group in pd.Series(raw.index[twice], index=key[twice]).groupby(level=0):
        if len(group) > 1:
            where = ", ".join(str(row_numbers[i]) for i in group)
            for i in group:
                reasons.setdefault(i, f"duplicate: the address is in rows {where} for this "
                                      "audience (keep one row)")

    # rows the export wrote (a sync status) carry their base; rows added by hand do not
    exported = (raw["sync_status"].astype(str).str.strip() != "") if {"sync_status", "mailchimp_tags"} \
        <= set(raw.columns) else pd.Series(False, index=raw.index)
    cells = {c: raw[c].astype(str).str.strip().str.upper().tolist() for c in tags}
    bases = raw["mailchimp_tags"].tolist() if exported.any() else [None] * len(raw)
    given_ids, flags = given.tolist(), exported.tolist()
    emails_, hashes_, audiences_ = emails.tolist(), hashes.tolist(), audience.tolist()
    rows, malformed = [], []
    for i in raw.index.tolist():
        cid = int(given_ids[i]) if given_ids[i].isdigit() else None
        if i in reasons:
            malformed.append((int(row_numbers[i]), cid, reasons[i]))
            continue
        wants = []
        base = base_tags(bases[i]) if flags[i] else None
        for column, tag in tags.items():
            value = cells[column][i]
            if value not in (YES, NO) or (i, column) in bad_cells:
                continue
            if base is not None and (value == YES) == (tag.casefold() in base):
                continue  # as exported: not an instruction (Mailchimp may have changed since)
            wants.append((tag, value == YES))
        rows.append((int(row_numbers[i]), emails_[i], hashes_[i], cid, audiences_[i], wants))
    frames = pd.DataFrame(rows, columns=list(ROW_COLUMNS)), \
        pd.DataFrame(malformed, columns=list(MALFORMED_COLUMNS))
    for frame in frames:
        frame["contact_id"] = pd.array(frame["contact_id"].tolist(), dtype="Int64")
    return SheetRows(
        rows=frames[0], malformed=frames[1],
        tags=tags, invalid_cells=len(bad_cells), invalid_samples=samples)


def _failures(raw: pd.DataFrame, tag_columns: list[str]) -> list[tuple[str, str, int]]:
    """(column, check, row index) of every failing cell (lazy validation: all of them)."""
    try:
        sheet_schema(tag_columns).validate(raw, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases[cases["index"].notna()]
        return [(str(c), str(k), int(i)) for c, k, i in
                cases[["column", "check", "index"]].itertuples(index=False)]
    return []
