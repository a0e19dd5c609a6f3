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

from mc_pipelines.mailchimp.errors import ACCOUNT_LEVEL_ERRORS
from mc_pipelines.mailchimp.runner import run_sync
from mc_pipelines.store.connections import Connection
from mc_pipelines.store.secrets import SecretKeyError

OWNERS = ["team:growth-data"]
SYNC_GROUP = "mailchimp_sync"
INBOUND_GROUP = "mailchimp_inbound"
APP_GROUP = "application"
MAILCHIMP_RETRY = RetryPolicy(max_retries=3, delay=5, backoff=Backoff.EXPONENTIAL, jitter=Jitter.FULL)
T = TypeVar("T")


def run_mailchimp(coro: Coroutine[Any, Any, T]) -> T:
    """Run an asset's Mailchimp phase. Account-level errors (invalid or revoked key, disabled
    account, missing audience) and a wrong MC_SECRET_KEY become a Failure that is not retried —
    retrying cannot fix them — while transient errors propagate so the RetryPolicy applies."""
    try:
        return run_sync(coro)
    except (*ACCOUNT_LEVEL_ERRORS, SecretKeyError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from None


def org_audiences(connection: Connection, segments: pd.DataFrame) -> list[str]:
    """The org's default audience first, then every other audience an active segment points to."""
    audiences = [connection.audience_id] if connection.audience_id else []
    if len(segments):
        for audience in segments["audience_id"].dropna().unique():
            if audience not in audiences:
                audiences.append(str(audience))
    return audiences


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set):
        return ", ".join(map(str, value))
    return str(value)


def masked_email(value: Any) -> str | None:
    """`z…@acme-mail.io`: enough to recognise an address in the UI, never the address itself
    (run metadata lives in the Dagster instance, where no contact data may stay)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    local, at, domain = str(value).partition("@")
    return f"{local[:1]}…{at}{domain}"


def table_metadata(frame: pd.DataFrame, columns: list[str] | None = None, limit: int = 10) -> MetadataValue:
    """The first `limit` rows of `frame` as a UI table (emails masked)."""
    columns = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    head = frame.head(limit)[columns]  # rows first: never copy a million-row frame
    schema = TableSchema(columns=[TableColumn(name=c, type=str(head[c].dtype)) for c in columns])
    records = [TableRecord({c: masked_email(v) if "email" in c else _cell(v) for c, v in row.items()})
               for row in head.to_dict("records")]
    return MetadataValue.table(records=records, schema=schema)


def numbers(values: Mapping[str, int | float]) -> dict[str, MetadataValue]:
    """Numeric metadata (the UI plots these over materializations)."""
    return {k: (MetadataValue.float(float(v)) if isinstance(v, float) else MetadataValue.int(int(v)))
            for k, v in values.items()}


def samples_markdown(rows: list[dict[str, Any]], limit: int = 20) -> MetadataValue:
    """Error samples with contact ids (emails masked) as a markdown table."""
    if not rows:
        return MetadataValue.md("_none_")
    lines = ["| contact_id | email | outcome | message |", "|---|---|---|---|"]
    for row in rows[:limit]:
        message = str(row.get("message", "")).replace("|", "\\|")[:200]
        lines.append(f"| {row.get('contact_id')} | {masked_email(row.get('email'))} | "
                     f"{row.get('error_code')} | {message} |")
    if len(rows) > limit:
        lines.append(f"\n… and {len(rows) - limit} more (see `sync_errors`)")
    return MetadataValue.md("\n".join(lines))
