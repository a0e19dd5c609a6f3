"""The spreadsheet format shared by the contacts export and the import (pure).

The export is the import's template: the contact and sync columns of `sync.export`, then one
column per tag of the audience, headed `tag:<name>`, holding `Y` (the member has the tag) or `N`
(it does not). An operator edits the `Y`/`N` cells and imports the file back.

Formula injection: a spreadsheet program runs a cell starting with `=`, `+`, `-` or `@` (and tab
or carriage return, which hide one) as a formula. Text cells starting so are written to CSV with a
leading apostrophe (`'=HYPERLINK(…)`), which spreadsheet programs show as text; the import takes
the apostrophe off again. The XLSX stores every text as a text cell (never a formula).

The export's `mailchimp_tags` cell lists the member's tags from the same read as its `Y`/`N`
cells: it is the base the import compares the sheet with, so a cell the operator did not change
is no instruction — a tag a marketer added or removed in Mailchimp after the export is kept as
Mailchimp has it, never undone by a stale sheet.
"""

from __future__ import annotations

import pandas as pd

from mc_pipelines.sync.emails import normalise_emails, subscriber_hashes

TAG_COLUMN_PREFIX = "tag:"
YES, NO = "Y", "N"
TAG_SEPARATOR = "; "  # how the export joins a member's tags in one cell
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def tag_column(tag: str) -> str:
    """The header of a tag's column."""
    return f"{TAG_COLUMN_PREFIX}{tag}"


def tag_of_column(column: object) -> str | None:
    """The tag a header names (`tag:VIP` → `VIP`, spaces around the name trimmed), else None."""
    if not isinstance(column, str) or not column.strip().lower().startswith(TAG_COLUMN_PREFIX):
        return None
    name = column.strip()[len(TAG_COLUMN_PREFIX):].strip()
    return name or None


def escape_cell(value: object) -> object:
    """A CSV cell that no spreadsheet program runs as a formula (see the module doc)."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """The text `escape_cell` wrote (an apostrophe before a formula trigger is taken off)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text cell through `escape_cell` (a copy when anything changes)."""
    out = frame
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object:
            continue
        risky = values.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_TRIGGERS))
        if risky.any():
            if out is frame:
                out = frame.copy()
            out[column] = values.map(escape_cell)
    return out


def yes_no(has: bool) -> str:
    """`Y` or `N`."""
    return YES if has else NO


def template_frame(export: pd.DataFrame, member_tags: pd.DataFrame,
                   audience_tags: dict[str, list[str]]) -> pd.DataFrame:
    """The export rows with one `tag:<name>` column per tag of any exported audience.

    `export`: `sync.export.export_frame` rows (`email`, `audience_id`, …);
    `member_tags`: `audience_id`, `subscriber_hash`, `tags` — each member's Mailchimp tags as last
    read; `audience_tags`: the tags defined in each audience. A row's cell is `Y`/`N` for the tags
    of its own audience and empty for another audience's tags (compared case-insensitively).
    """
    names: dict[str, str] = {}
    for tags in audience_tags.values():
        for tag in tags:
            names.setdefault(tag.casefold(), tag)
    ordered = sorted(names.values(), key=str.casefold)
    member_names = {(a, h): list(tags or ()) for a, h, tags in
                    member_tags[["audience_id", "subscriber_hash", "tags"]].itertuples(index=False)}
    held = {k: {t.casefold() for t in v} for k, v in member_names.items()}
    defined = {a: {t.casefold() for t in tags} for a, tags in audience_tags.items()}
    hashes = subscriber_hashes(normalise_emails(export["email"]))
    keys = list(zip(export["audience_id"], hashes, strict=True))
    columns = {}
    for tag in ordered:
        folded = tag.casefold()
        columns[tag_column(tag)] = [
            yes_no(folded in held.get(key, ())) if folded in defined.get(key[0], ()) else ""
            for key in keys]
    out = pd.concat([export.reset_index(drop=True), pd.DataFrame(columns, index=range(len(export)))],
                    axis=1)
    if "mailchimp_tags" in out.columns:  # the same read as the Y/N cells: the import's base
        out["mailchimp_tags"] = [
            TAG_SEPARATOR.join(sorted(member_names[key])) if key in member_names
            else text for key, text in zip(keys, out["mailchimp_tags"], strict=True)]
    return out


def base_tags(text: object) -> set[str] | None:
    """The tags an exported row's `mailchimp_tags` cell lists (casefolded), or None when the
    cell is missing: the member's tags when the sheet was exported (see `sheet_rows`)."""
    if not isinstance(text, str):
        return None
    return {t.strip().casefold() for t in text.split(TAG_SEPARATOR.strip()) if t.strip()}


def last_read_tags(state: pd.DataFrame, full_read: pd.DataFrame) -> pd.DataFrame:
    """Each member's Mailchimp tags as last read (`audience_id`, `subscriber_hash`, `tags`): the
    full read of member tags (tag-only changes included) where it saw the member, else the tags
    the member-status pull stored (`state.mailchimp_tags`)."""
    columns = ["audience_id", "subscriber_hash", "tags"]
    parts = [full_read[columns]] if len(full_read) else []
    if len(state):
        pulled = state[["audience_id", "subscriber_hash", "mailchimp_tags"]].rename(
            columns={"mailchimp_tags": "tags"})
        parts.append(pulled)
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.concat(parts, ignore_index=True).drop_duplicates(["audience_id", "subscriber_hash"])


def tags_seen(member_tags: pd.DataFrame) -> dict[str, list[str]]:
    """The tags seen on the members of each audience (`last_read_tags` rows)."""
    seen: dict[str, dict[str, str]] = {}
    for audience, tags in member_tags[["audience_id", "tags"]].itertuples(index=False):
        for tag in tags or ():
            seen.setdefault(audience, {}).setdefault(str(tag).casefold(), str(tag))
    return {a: sorted(t.values(), key=str.casefold) for a, t in seen.items()}
