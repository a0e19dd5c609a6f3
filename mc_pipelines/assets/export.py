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
Mailchimp as of the last pull; lists are joined with "; ". Then one `tag:<name>` column per tag
defined in the org's audiences, `Y`/`N` per member (as last read): the file is the template of the
spreadsheet import (`sync.sheet_format`). Neither file can run a formula: the CSV escapes cells
starting with a formula character with an apostrophe, the XLSX stores every text as text; the
XLSX drops the control characters Excel cannot hold.
"""


import re
from pathlib import Path

from dagster import AssetExecutionContext, Config, Failure, MaterializeResult, MetadataValue, asset
from pydantic import Field

from mc_pipelines.actions.sheet_export import export_template
from mc_pipelines.assets.common import DB_KIND, OWNERS, numbers, table_metadata
from mc_pipelines.assets.sources import app_contacts
from mc_pipelines.effects.member_tags import DEFAULT_MAX_MEMBERS
from mc_pipelines.effects.workbook import write_atomically, write_csv, write_xlsx
from mc_pipelines.errors import FixableError
from mc_pipelines.mailchimp.errors import ACCOUNT_LEVEL_ERRORS
from mc_pipelines.partitions import org_partitions
from mc_pipelines.resources import AppDatabase, MailchimpResource
from mc_pipelines.store.secrets import SecretKeyError
from mc_pipelines.sync.export import EXPORT_COLUMNS

EXCEL_MAX_ROWS = 1_048_576
EXPORT_GROUP = "exports"
_UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9._-]")


class ContactsExportConfig(Config):
    """Run config of the contacts export."""

    directory: str = Field(default=".data/exports",
                           description="Files go to <directory>/<org>/ (created if missing).")
    xlsx: bool = Field(default=True, description="Also write an Excel workbook (openpyxl).")
    read_tags: bool = Field(default=True, description="Read every member's tags from Mailchimp "
                            "first (the Y/N columns then show Mailchimp's current tags).")
    max_members: int = Field(default=DEFAULT_MAX_MEMBERS, ge=1, description="Refuse reading the "
                             "tags of an audience holding more members than this.")


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
                    app_db: AppDatabase, mailchimp: MailchimpResource) -> MaterializeResult:
    """Write the org's contacts export files (the spreadsheet import's template)."""
    org_id = context.partition_key
    try:
        template = export_template(app_db.engine, mailchimp.client_for, org_id,
                                   read_tags=config.read_tags, max_members=config.max_members)
    except (*ACCOUNT_LEVEL_ERRORS, SecretKeyError, FixableError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    frame, audiences = template.frame, template.audiences

    folder = Path(config.directory) / _UNSAFE_PATH_CHARS.sub("_", org_id)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "contacts.csv"
    write_atomically(csv_path, lambda p: write_csv(frame, p))
    metadata: dict = {"csv_path": MetadataValue.path(str(csv_path.resolve()))}
    if config.xlsx and len(frame) < EXCEL_MAX_ROWS:
        xlsx_path = folder / "contacts.xlsx"
        write_atomically(xlsx_path, lambda p: write_xlsx(frame, p))
        metadata["xlsx_path"] = MetadataValue.path(str(xlsx_path.resolve()))
    elif config.xlsx:
        metadata["xlsx_skipped"] = MetadataValue.text(
            f"{len(frame)} rows exceed Excel's limit of {EXCEL_MAX_ROWS - 1}; use the CSV")
    by_status = frame["sync_status"].value_counts()
    tag_columns = template.tag_columns
    counts = {"rows": len(frame), "contacts": template.contacts, "audiences": len(audiences),
              "tag_columns": len(tag_columns),
              **{f"status_{k}": int(v) for k, v in by_status.items()}}
    context.log.info(f"org {org_id}: exported {counts} to {folder}")
    return MaterializeResult(metadata={
        **metadata, **numbers(counts), "preview": table_metadata(frame, EXPORT_COLUMNS),
        "tag_columns": MetadataValue.json(tag_columns),
    })
