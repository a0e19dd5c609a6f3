"""pandera schemas of the sync's frames (pandas backend: `pandera.pandas`).

`CohortSchema` is the contract of the `consented_contacts` asset: the blocking asset check built
on it stops every Mailchimp call if an invalid address, a duplicate hash or a contact without
consent slipped through. Every check is vectorised (a handful of passes at 1M rows); `strict`
is off because the cohort carries the org's extra source columns for custom merge fields.
"""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing.pandas import Series

from mc_pipelines.sync.emails import EMAIL_PATTERN, SUBSCRIBER_HASH_PATTERN

CONTACT_TYPES = ("customer", "employee", "vendor")
REJECTION_REASONS = ("invalid_email", "duplicate_email")


class CohortSchema(pa.DataFrameModel):
    """The consented, valid, deduplicated contacts of one org (output of `build_cohort`)."""

    contact_id: Series[int] = pa.Field(nullable=False, unique=True)
    email: Series[str] = pa.Field(nullable=False, str_matches=EMAIL_PATTERN)
    subscriber_hash: Series[str] = pa.Field(
        nullable=False, unique=True, str_matches=SUBSCRIBER_HASH_PATTERN
    )
    contact_type: Series[str] = pa.Field(nullable=False, isin=list(CONTACT_TYPES))
    marketing_consent: Series[bool] = pa.Field(nullable=False, eq=True)

    class Config:
        name = "CohortSchema"
        strict = False
        coerce = False


class RejectedSchema(pa.DataFrameModel):
    """Contacts kept out of the cohort, with the reason (output of `build_cohort`)."""

    contact_id: Series[int] = pa.Field(nullable=False)
    email: Series[str] = pa.Field(nullable=True)
    reason: Series[str] = pa.Field(nullable=False, isin=list(REJECTION_REASONS))
    detail: Series[str] = pa.Field(nullable=False)

    class Config:
        name = "RejectedSchema"
        strict = False
        coerce = False
