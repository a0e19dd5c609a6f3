"""Helpers shared by the asset modules: owners, retry policy, the org's audiences, and metadata
builders that render well in the Dagster UI (tables, markdown samples, plottable numbers)."""


from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import pandas as pd
from dagster import (
    Backoff,
    Failure,
    Jitter,
    MetadataValue,
    RetryPolicy,
    TableColumn,
    TableRecord,
    TableSchema,
)

from mc_pipelines.assets.privacy import mask_email, mask_text, redact_frame
from mc_pipelines.config import database_kind
from mc_pipelines.mailchimp.errors import ACCOUNT_LEVEL_ERRORS
from mc_pipelines.mailchimp.runner import run_sync
from mc_pipelines.store.secrets import SecretKeyError
from mc_pipelines.sync._perf import existing_objects_frozen

OWNERS = ["team:growth-data"]
SYNC_GROUP = "mailchimp_sync"
INBOUND_GROUP = "mailchimp_inbound"
APP_GROUP = "application"
#: The kind of every asset read from or written to the application database (`postgres` or
#: `sqlite`), from MC_DATABASE_URL when the definitions load.
DB_KIND = database_kind()
MAILCHIMP_RETRY = RetryPolicy(max_retries=3, delay=5, backoff=Backoff.EXPONENTIAL, jitter=Jitter.FULL)
T = TypeVar("T")


def run_mailchimp(coro: Coroutine[Any, Any, T]) -> T:
    """Run an asset's Mailchimp phase. Account-level errors (invalid or revoked key, disabled
    account, missing audience) and a wrong MC_SECRET_KEY become a Failure that is not retried —
    retrying cannot fix them — while transient errors propagate so the RetryPolicy applies.
    The frames the asset was handed stay out of the garbage collector's scans meanwhile."""
    try:
        with existing_objects_frozen():
            return run_sync(coro)
    except (*ACCOUNT_LEVEL_ERRORS, SecretKeyError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from None


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set):
        return ", ".join(map(str, value))
    return str(value)


def table_metadata(frame: pd.DataFrame, columns: list[str] | None = None, limit: int = 10, *,
                   full_emails: bool = False) -> MetadataValue:
    """The first `limit` rows of `frame` as a UI table; addresses masked and names left out
    unless `full_emails` (see `privacy.py`)."""
    columns = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    head = redact_frame(frame.head(limit)[columns], full=full_emails)  # rows first: no big copy
    columns = list(head.columns)
    schema = TableSchema(columns=[TableColumn(name=c, type=str(head[c].dtype)) for c in columns])
    records = [TableRecord({c: _cell(v) for c, v in row.items()}) for row in head.to_dict("records")]
    return MetadataValue.table(records=records, schema=schema)


def numbers(values: Mapping[str, int | float]) -> dict[str, MetadataValue]:
    """Numeric metadata (the UI plots these over materializations)."""
    return {k: (MetadataValue.float(float(v)) if isinstance(v, float) else MetadataValue.int(int(v)))
            for k, v in values.items()}


def samples_markdown(rows: list[dict[str, Any]], limit: int = 20, *, full_emails: bool = False) -> MetadataValue:
    """Error samples with contact ids as a markdown table; addresses masked unless `full_emails`."""
    if not rows:
        return MetadataValue.md("_none_")
    lines = ["| contact_id | email | outcome | message |", "|---|---|---|---|"]
    for row in rows[:limit]:
        email, message = row.get("email"), str(row.get("message", ""))
        if not full_emails:
            email, message = mask_email(email), mask_text(message)
        message = message.replace("|", "\\|")[:200]
        lines.append(f"| {row.get('contact_id')} | {email} | {row.get('error_code')} | {message} |")
    if len(rows) > limit:
        lines.append(f"\n… and {len(rows) - limit} more (see `sync_errors`)")
    return MetadataValue.md("\n".join(lines))


def counts_legend(meanings: Mapping[str, str]) -> MetadataValue:
    """What each numeric metadata entry of a materialization counts, as a markdown table (the UI
    shows metadata values without descriptions; this entry gives them one)."""
    lines = ["| count | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {meaning} |" for name, meaning in meanings.items()]
    return MetadataValue.md("\n".join(lines))
