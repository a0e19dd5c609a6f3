"""`contacts_export`: every contact of the org with its sync status and tags, as CSV and XLSX.

One row per contact and audience the org syncs to (an org with one audience gets one row per
contact). `sync_status` says where the contact stands in that audience:
- `not_consented` — marketing consent is off (Mailchimp's own status, if any, is still shown);
- `invalid_email` / `duplicate_email` — refused by the cohort rules, `detail` says why;
- `rejected` — Mailchimp refused the member, `detail` holds its last recorded outcome;
- Mailchimp's status as last seen (`subscribed`, `unsubscribed`, `cleaned`, `pending`…) or a
  local marker (`creating`, `unknown`);
- `not_synced` (default audience) / `not_in_audience` (others) — no member record yet.
`managed_tags` are the tags this project manages, `mailchimp_tags` every tag the member has in
Mailchimp as of the last pull; lists are joined with "; ". The CSV is the faithful copy; the XLSX
stores every text as text (a value starting with "=" is never a formula) and drops the control
characters Excel cannot hold.
"""


import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from pydantic import Field

from mc_pipelines.assets.common import DB_KIND, OWNERS, numbers, org_audiences, table_metadata
from mc_pipelines.assets.sources import app_contacts
from mc_pipelines.partitions import org_partitions
from mc_pipelines.resources import AppDatabase
from mc_pipelines.store import member_state, runs
from mc_pipelines.store.connections import get_connection
from mc_pipelines.store.contacts import read_live_contacts
from mc_pipelines.store.segments import active_segments
from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines.sync.emails import normalise_emails, subscriber_hashes

EXPORT_COLUMNS = [
    "contact_id", "email", "first_name", "last_name", "contact_type", "marketing_consent",
    "app_tags", "audience_id", "sync_status", "detail", "mailchimp_status", "managed_tags",
    "mailchimp_tags",
]
EXCEL_MAX_ROWS = 1_048_576
EXPORT_GROUP = "exports"
_UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9._-]")


class ContactsExportConfig(Config):
    """Run config of the contacts export."""

    directory: str = Field(default=".data/exports",
                           description="Files go to <directory>/<org>/ (created if missing).")
    xlsx: bool = Field(default=True, description="Also write an Excel workbook (openpyxl).")


def _joined(values: pd.Series) -> list[str]:
    return ["; ".join(map(str, v)) if isinstance(v, list | tuple) else "" for v in values]


def export_frame(contacts: pd.DataFrame, state: pd.DataFrame, errors: pd.DataFrame,
                 audiences: list[str]) -> pd.DataFrame:
    """The export rows (`EXPORT_COLUMNS`) of one org from its live contacts, member state,
    latest per-row outcomes and audiences (the first one is the default audience), sorted by
    contact id then audience."""
    rejected = build_cohort(contacts).rejected.drop_duplicates("contact_id").set_index("contact_id")
    base = pd.DataFrame({
        "contact_id": contacts["id"].to_numpy(),
        "email": contacts["email"].to_numpy(),
        "first_name": contacts["first_name"].to_numpy(),
        "last_name": contacts["last_name"].to_numpy(),
        "contact_type": contacts["contact_type"].to_numpy(),
        "marketing_consent": contacts["marketing_consent"].to_numpy(dtype=bool),
        "app_tags": _joined(contacts["tags"]),
        "subscriber_hash": subscriber_hashes(normalise_emails(contacts["email"])).to_numpy(),
    })
    error_text = {(a, int(c)): f"{code}: {message}" for a, c, code, message in
                  errors[["audience_id", "contact_id", "error_code", "message"]].itertuples(index=False)}
    parts = []
    # an org without any audience yet still lists every contact (audience left empty)
    for position, audience in enumerate(audiences or [None]):
        members = (state[state["audience_id"] == audience]
                   .drop_duplicates("subscriber_hash")[["subscriber_hash", "status", "managed_tags",
                                                        "mailchimp_tags"]])
        part = base.merge(members, on="subscriber_hash", how="left")
        part["audience_id"] = audience
        known = part["status"].notna().to_numpy()
        refused = part["contact_id"].isin(rejected.index).to_numpy()
        status = np.select(
            [~part["marketing_consent"].to_numpy(), refused, known],
            [np.full(len(part), "not_consented", dtype=object),
             part["contact_id"].map(rejected["reason"]).to_numpy(dtype=object),
             part["status"].to_numpy(dtype=object)],
            default="not_synced" if position == 0 else "not_in_audience",
        )
        detail = np.where(refused, part["contact_id"].map(rejected["detail"]).to_numpy(dtype=object),
                          [error_text.get((audience, int(c)), "") if s == "rejected" else ""
                           for c, s in zip(part["contact_id"], status, strict=True)])
        part["sync_status"] = status
        part["detail"] = np.where(status == "not_consented", "", detail)
        part["mailchimp_status"] = part["status"].where(known, "")
        part["managed_tags"] = _joined(part["managed_tags"])
        part["mailchimp_tags"] = _joined(part["mailchimp_tags"])
        parts.append(part[EXPORT_COLUMNS])
    return pd.concat(parts, ignore_index=True).sort_values(["contact_id", "audience_id"],
                                                           ignore_index=True)


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same directory, so readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _excel_cell(sheet, value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if not isinstance(value, str):
        return value.item() if isinstance(value, np.generic) else value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if value.startswith("=") or value in ERROR_CODES:
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # text, never a formula or an error value
        return cell
    return value


def write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """`frame` as a one-sheet workbook (streamed with openpyxl's write-only mode)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("contacts")
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        sheet.append([_excel_cell(sheet, v) for v in row])
    book.save(path)


@asset(
    partitions_def=org_partitions,
    deps=[app_contacts, "mailchimp_member_status", "audience_sync"],
    group_name=EXPORT_GROUP,
    owners=OWNERS,
    kinds={DB_KIND, "csv", "excel"},
    description=(
        "Contacts-and-tags export per org: every live contact with, per audience, its sync status "
        "(Mailchimp status as last seen, rejected with the reason, or not consented), the tags "
        "this project manages and all of the member's Mailchimp tags. Written as CSV and XLSX "
        "under <directory>/<org>/ (default .data/exports); paths and row counts in the metadata."
    ),
)
def contacts_export(context: AssetExecutionContext, config: ContactsExportConfig,
                    app_db: AppDatabase) -> MaterializeResult:
    """Write the org's contacts export files."""
    org_id = context.partition_key
    engine = app_db.engine
    contacts = read_live_contacts(engine, org_id)
    state = member_state.load_state(engine, org_id)
    connection = get_connection(engine, org_id)
    audiences = org_audiences(connection, active_segments(engine, org_id)) if connection else []
    audiences += sorted(set(state["audience_id"].dropna()) - set(audiences))
    frame = export_frame(contacts, state, runs.latest_errors(engine, org_id), audiences)

    folder = Path(config.directory) / _UNSAFE_PATH_CHARS.sub("_", org_id)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "contacts.csv"
    _write_atomically(csv_path, lambda p: frame.to_csv(p, index=False))
    metadata: dict = {"csv_path": MetadataValue.path(str(csv_path.resolve()))}
    if config.xlsx and len(frame) < EXCEL_MAX_ROWS:
        xlsx_path = folder / "contacts.xlsx"
        _write_atomically(xlsx_path, lambda p: write_xlsx(frame, p))
        metadata["xlsx_path"] = MetadataValue.path(str(xlsx_path.resolve()))
    elif config.xlsx:
        metadata["xlsx_skipped"] = MetadataValue.text(
            f"{len(frame)} rows exceed Excel's limit of {EXCEL_MAX_ROWS - 1}; use the CSV")
    by_status = frame["sync_status"].value_counts()
    counts = {"rows": len(frame), "contacts": len(contacts), "audiences": len(audiences),
              **{f"status_{k}": int(v) for k, v in by_status.items()}}
    context.log.info(f"org {org_id}: exported {counts} to {folder}")
    return MaterializeResult(metadata={
        **metadata, **numbers(counts), "preview": table_metadata(frame, EXPORT_COLUMNS),
    })
