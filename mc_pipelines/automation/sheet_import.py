"""The `spreadsheet_import` job: an edited contacts export back into Mailchimp (launchpad config:
org, file path, dry run). The work is `actions.sheet_import.import_sheet`; this module is its thin
Dagster shell. Metadata holds counts, contact ids and sheet row numbers — never an address.
"""

from typing import Any

from dagster import Config, Failure, MetadataValue, OpExecutionContext, job, op
from pydantic import Field

from mc_pipelines.actions.sheet_import import import_sheet
from mc_pipelines.assets.common import numbers, table_metadata
from mc_pipelines.automation.run_config import run_config_dict
from mc_pipelines.effects.workbook import MAX_BYTES, MAX_ROWS
from mc_pipelines.errors import FixableError
from mc_pipelines.mailchimp.errors import ACCOUNT_LEVEL_ERRORS
from mc_pipelines.resources import AppDatabase, MailchimpResource

IMPORT_OP = "import_spreadsheet"
OUTCOME_COLUMNS = ["row", "audience_id", "contact_id", "outcome", "reason", "tags_added",
                   "tags_removed"]


class SheetImportConfig(Config):
    """Which file to import for which org."""

    org_id: str = Field(description="The org whose contacts the sheet lists.")
    path: str = Field(description="Path of the edited export (.xlsx or .csv) on the run's machine.")
    dry_run: bool = Field(default=False, description="Plan and report per row; write nothing.")
    max_rows: int = Field(default=MAX_ROWS, ge=1, description="Refuse a sheet with more rows.")
    max_bytes: int = Field(default=MAX_BYTES, ge=1, description="Refuse a larger file.")
    requested_by: str | None = Field(default=None, description="Audit actor; default: this run.")


@op(name=IMPORT_OP, description="Validate the whole sheet, pull Mailchimp-side changes, plan per "
    "row through the lifecycle rules (consent gate, no status ever sent but a new member's), add "
    "consenting contacts that are not members and move the marketer tags the sheet sets Y/N.")
def import_spreadsheet_op(context: OpExecutionContext, config: SheetImportConfig,
                          app_db: AppDatabase, mailchimp: MailchimpResource) -> dict[str, Any]:
    """Import the configured sheet; returns the counts and the per-row outcomes (no address)."""
    try:
        outcome = import_sheet(
            app_db.engine, mailchimp.client_for, config.org_id, config.path,
            actor=config.requested_by or f"dagster:{context.run_id}", dry_run=config.dry_run,
            max_rows=config.max_rows, max_bytes=config.max_bytes, dagster_run_id=context.run_id)
    except (FixableError, *ACCOUNT_LEVEL_ERRORS) as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    rows = outcome.outcomes
    context.add_output_metadata({
        **numbers(outcome.counts),
        "dry_run": MetadataValue.bool(config.dry_run),
        "sync_run_id": MetadataValue.text(outcome.run_id or ""),
        "ignored_columns": MetadataValue.json(outcome.plan.ignored_columns),
        "outcomes": table_metadata(rows, OUTCOME_COLUMNS, limit=50),
    })
    return outcome.summary()


@job(name="spreadsheet_import", tags={"mc/kind": "spreadsheet_import"},
     description="Import an edited contacts export (Y/N per tag) into Mailchimp for one org.")
def spreadsheet_import() -> None:
    """The import job (config `ops.import_spreadsheet.config.{org_id, path, dry_run}`)."""
    import_spreadsheet_op()


def import_run_config(org_id: str, path: str, *, dry_run: bool = False,
                      requested_by: str | None = None) -> dict[str, Any]:
    """Run config of `spreadsheet_import`."""
    return run_config_dict({IMPORT_OP: SheetImportConfig(
        org_id=org_id, path=path, dry_run=dry_run, requested_by=requested_by)})


IMPORT_JOBS = [spreadsheet_import]
