"""`source_contacts` → `consented_contacts` (+ `rejected_contacts`): the consent-gated cohort.

The cohort is validated once, by the pandera CohortSchema in the *blocking* asset check
`cohort_is_valid`, so no Mailchimp call happens downstream if an invalid row slipped in. The
schema's columns are shown on the asset (dagster-pandera's table schema) without validating again.
"""


from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetObservation,
    AssetOut,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)
from dagster_pandera import pandera_schema_to_dagster_type

from mc_pipelines.assets.common import (
    DB_KIND,
    OWNERS,
    SYNC_GROUP,
    counts_legend,
    numbers,
    table_metadata,
)
from mc_pipelines.assets.member_status import mailchimp_member_status
from mc_pipelines.assets.same_run import COHORT_UPSTREAM, require_same_run
from mc_pipelines.assets.settled import fingerprints, skip_if_settled
from mc_pipelines.assets.sources import app_contacts
from mc_pipelines.checks import cohort_failures
from mc_pipelines.partitions import org_partitions
from mc_pipelines.resources import AppDatabase
from mc_pipelines.schemas import CohortSchema
from mc_pipelines.store.connections import require_org
from mc_pipelines.store.contacts import read_live_contacts
from mc_pipelines.sync.cohort import build_cohort

INVALID_RATE_WARN = 0.05
PREVIEW = ["contact_id", "email", "subscriber_hash", "first_name", "last_name", "contact_type", "tags"]
COUNT_MEANINGS = {
    "read": "live contacts read (soft-deleted ones are not read)",
    "no_consent": "contacts without marketing consent: never written to Mailchimp",
    "invalid": "consenting contacts with an unusable email address (see rejected_contacts)",
    "duplicates": "consenting contacts sharing an address with a more recently updated one",
    "consented": "the cohort: consenting contacts with a valid, unique address",
}

#: The CohortSchema's columns as a table schema, for the UI (documentation only: the one
#: validation is the blocking check's).
COHORT_COLUMN_SCHEMA = pandera_schema_to_dagster_type(CohortSchema).metadata["schema"]


@asset(
    partitions_def=org_partitions,
    deps=[app_contacts, mailchimp_member_status],
    group_name=SYNC_GROUP,
    owners=OWNERS,
    kinds={DB_KIND, "pandas"},
    output_required=False,  # not read again when the org is settled (`assets.settled`)
    description=(
        "The org's live (not soft-deleted) contacts read from the application database. Read "
        "after the member-status pull so Mailchimp-side unsubscribes are already reflected. Not "
        "read when nothing the sync plans from changed since a sync that left nothing to do: "
        "the run then skips the cohort, the segments and audience_sync, and observes them "
        "unchanged (`settled_by_sync_run`)."
    ),
)
def source_contacts(context: AssetExecutionContext, app_db: AppDatabase
                    ) -> Iterator[MaterializeResult | AssetObservation]:
    """Read the org's live contacts (or, when the org is settled, observe it unchanged)."""
    org_id = context.partition_key
    require_org(app_db.engine, org_id)
    taken = fingerprints(context, app_db.engine)  # before the read: see store.settled
    unchanged = skip_if_settled(context, app_db.engine, taken, full_emails=app_db.full_emails_in_metadata)
    if unchanged is not None:
        yield from unchanged
        return
    frame = read_live_contacts(app_db.engine, org_id)
    yield MaterializeResult(value=frame, metadata={
        **{key: MetadataValue.text(value) for key, value in taken.items()},
        "dagster/row_count": MetadataValue.int(len(frame)),
        **numbers({"read": len(frame), "with_consent": int(frame["marketing_consent"].sum())}),
        "counts_explained": counts_legend({
            "read": COUNT_MEANINGS["read"],
            "with_consent": "of those, contacts with marketing consent (before address checks)"}),
        "preview": table_metadata(frame, ["id", "email", "first_name", "last_name", "contact_type",
                                          "marketing_consent", "tags"],
                                  full_emails=app_db.full_emails_in_metadata),
    })


@multi_asset(
    partitions_def=org_partitions,
    group_name=SYNC_GROUP,
    outs={
        "consented_contacts": AssetOut(
            dagster_type=pd.DataFrame,
            metadata={"dagster/column_schema": COHORT_COLUMN_SCHEMA},
            owners=OWNERS, kinds={"pandas", "pandera"},
            description=(
                "The cohort: contacts with marketing consent, emails trimmed and validated, "
                "deduplicated on the subscriber hash (md5 of the lower-cased email; the most "
                "recently updated contact wins)."
            ),
        ),
        "rejected_contacts": AssetOut(
            owners=OWNERS, kinds={"pandas"},
            description=(
                "Consented contacts kept out of the cohort, with contact ids and reasons: invalid "
                "email addresses, and duplicates of a more recently updated contact. Never silently "
                "dropped: fix these in the application."
            ),
        ),
    },
    check_specs=[
        AssetCheckSpec(
            "cohort_is_valid", asset="consented_contacts", blocking=True, partitions_def=org_partitions,
            description="Every cohort row passes the pandera CohortSchema (valid email, consent on, "
            "unique subscriber hash). Blocking: a failure stops every Mailchimp call downstream.",
        ),
        AssetCheckSpec(
            "invalid_email_rate", asset="consented_contacts", partitions_def=org_partitions,
            description=f"Warns when more than {INVALID_RATE_WARN:.0%} of consented contacts have "
            "an invalid email address.",
        ),
    ],
)
def consented_contacts(context: AssetExecutionContext, source_contacts: pd.DataFrame,
                       app_db: AppDatabase):
    """Apply the consent gate, normalise and validate emails, dedupe; validate the cohort.
    The outputs are emitted before the check results, so the checks evaluate this run's
    materialization."""
    require_same_run(context, "consented_contacts", COHORT_UPSTREAM)
    full = app_db.full_emails_in_metadata
    result = build_cohort(source_contacts)
    cohort, rejected, counts = result.cohort, result.rejected, result.counts
    failures = cohort_failures(cohort)
    consented = max(counts.get("read", 0) - counts.get("no_consent", 0), 0)
    rate = counts.get("invalid", 0) / consented if consented else 0.0
    context.log.info(f"org {context.partition_key}: {counts}")
    yield Output(cohort, output_name="consented_contacts", metadata={
        "dagster/row_count": MetadataValue.int(len(cohort)),
        **numbers(counts),
        "invalid_email_rate": MetadataValue.float(round(rate, 4)),
        "counts_explained": counts_legend({k: v for k, v in COUNT_MEANINGS.items() if k in counts}),
        "preview": table_metadata(cohort, PREVIEW, full_emails=full),
    })
    yield Output(rejected, output_name="rejected_contacts", metadata={
        "dagster/row_count": MetadataValue.int(len(rejected)),
        **numbers({"invalid": counts.get("invalid", 0), "duplicates": counts.get("duplicates", 0)}),
        "counts_explained": counts_legend({k: COUNT_MEANINGS[k] for k in ("invalid", "duplicates")}),
        "rejected": table_metadata(rejected, ["contact_id", "email", "reason", "detail"], limit=25,
                                   full_emails=full),
    })
    yield AssetCheckResult(
        check_name="cohort_is_valid", asset_key="consented_contacts", passed=failures.empty,
        description=(f"all {len(cohort)} cohort rows pass the CohortSchema" if failures.empty else
                     f"{len(failures)} schema failures in the cohort: nothing is sent to Mailchimp"),
        metadata={
            "rows_validated": MetadataValue.int(len(cohort)),
            "failure_cases": MetadataValue.int(len(failures)),
            "failure_sample": (table_metadata(failures, full_emails=full) if len(failures)
                               else MetadataValue.md("_none_")),
        },
    )
    yield AssetCheckResult(
        check_name="invalid_email_rate", asset_key="consented_contacts",
        passed=rate <= INVALID_RATE_WARN, severity=AssetCheckSeverity.WARN,
        description=(f"{counts.get('invalid', 0)} of {consented} consenting contacts "
                     f"({rate:.1%}) have an invalid address (warns above {INVALID_RATE_WARN:.0%}); "
                     "see rejected_contacts"),
        metadata={"invalid_email_rate": MetadataValue.float(round(rate, 4)),
                  "threshold": MetadataValue.float(INVALID_RATE_WARN)},
    )
