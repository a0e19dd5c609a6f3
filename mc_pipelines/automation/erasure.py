"""The `gdpr_erasure` job: erase one contact from Mailchimp and from the pipeline's own records.

Launch it from the launchpad with `org_id` and `contact_id`, or with `mc-pipelines erase-contact`.
The work is `actions.erasure.erase_contact`; this module is its thin Dagster shell. The run's
metadata, like the audit entry, holds ids, audiences and the outcome — never an email.
"""

from typing import Any

from dagster import Config, Failure, MetadataValue, OpExecutionContext, job, op
from pydantic import Field

from mc_pipelines.actions.erasure import erase_contact
from mc_pipelines.automation.run_config import run_config_dict
from mc_pipelines.errors import OperationError
from mc_pipelines.io_manager import sweep_run_frames
from mc_pipelines.resources import AppDatabase, MailchimpResource
from mc_pipelines.store.connections import UnknownOrgError

ERASE_OP = "erase_contact"


class ErasureConfig(Config):
    """Which contact to erase, and who asked."""

    org_id: str = Field(description="The org the contact belongs to.")
    contact_id: int = Field(description="The application's contact id (not the email).")
    requested_by: str | None = Field(
        default=None, description="Who asked for the erasure (audit actor); default: this run.")


@op(name=ERASE_OP, description="Delete-permanent in every audience the contact was synced to, then "
    "remove its member state, sync errors and webhook events; audited without personal data.")
def erase_contact_op(context: OpExecutionContext, config: ErasureConfig, app_db: AppDatabase,
                     mailchimp: MailchimpResource) -> dict[str, Any]:
    """Erase the configured contact; returns the audit detail (ids and outcome only)."""
    actor = config.requested_by or f"dagster:{context.run_id}"
    try:
        outcome = erase_contact(app_db.engine, mailchimp.client_for, config.org_id, config.contact_id, actor=actor)
    except (OperationError, UnknownOrgError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    detail = outcome.audit_detail()
    # whatever finished or killed runs left between steps goes too (running runs remove theirs)
    swept = sweep_run_frames(context.instance)
    context.add_output_metadata({
        "run_files_swept": MetadataValue.int(len(swept)),
        "outcome": MetadataValue.text(outcome.outcome),
        "audiences": MetadataValue.json(detail["audiences"]),
        "removed": MetadataValue.json(detail["removed"]),
        "consent_withdrawn": MetadataValue.bool(outcome.consent_withdrawn),
    })
    return detail


@job(
    name="gdpr_erasure",
    description="GDPR erasure of one contact: Mailchimp delete-permanent and local records, audited.",
    tags={"mc/kind": "gdpr_erasure"},
)
def gdpr_erasure() -> None:
    """The erasure job (one op; config `ops.erase_contact.config.{org_id, contact_id}`)."""
    erase_contact_op()


def erasure_run_config(org_id: str, contact_id: int, requested_by: str | None = None) -> dict[str, Any]:
    """Run config of `gdpr_erasure` for one contact."""
    config = ErasureConfig(org_id=org_id, contact_id=contact_id, requested_by=requested_by or None)
    return run_config_dict({ERASE_OP: config})


ERASURE_JOBS = [gdpr_erasure]
