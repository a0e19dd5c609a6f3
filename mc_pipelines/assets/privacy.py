"""Personal data in Dagster metadata: what previews and error samples may show.

Dagster keeps event-log metadata for as long as the instance keeps runs, out of reach of a GDPR
erasure. By default the metadata of every asset shows contact ids and *masked* addresses
(`a***@acme-mail.net`) and leaves names and phone numbers out; the full data stays in the
application tables (`contacts`, `sync_errors`, `mailchimp_member_state`) that operators already
query. Teams that accept full addresses in the event log set the `app_db` resource's
`full_emails_in_metadata: true`.
"""

from __future__ import annotations

import re

import pandas as pd

#: Columns never copied into metadata unless full personal data is allowed.
PERSONAL_COLUMNS = ("first_name", "last_name", "phone")

# an address anywhere in a text: the local part's first character is kept, the rest masked
_ADDRESS = re.compile(r"([^\s@<>|,;:()\[\]\"'`])[^\s@<>|,;:()\[\]\"'`]*@(?=[^\s@])")


def mask_text(text: str) -> str:
    """`text` with every email address masked: `anna.berg@acme-mail.net` → `a***@acme-mail.net`."""
    return _ADDRESS.sub(r"\1***@", text)


def mask_email(value: object) -> object:
    """One email cell masked (also a malformed one, which may still identify a person); `None`
    and non-strings unchanged."""
    if not isinstance(value, str) or not value.strip():
        return value
    local, at, domain = value.strip().rpartition("@")
    return f"{local[:1]}***@{domain}" if at else f"{domain[:1]}***"


def redact_frame(frame: pd.DataFrame, *, full: bool) -> pd.DataFrame:
    """A small frame (a preview's head) as metadata may show it: without `full`, name and phone
    columns dropped, email columns masked and addresses inside any other text masked."""
    if full:
        return frame
    out = frame.drop(columns=[c for c in PERSONAL_COLUMNS if c in frame.columns])
    for column in out.columns:
        if out[column].dtype != object:
            continue
        if "email" in str(column):
            out[column] = out[column].map(mask_email)
        else:
            out[column] = out[column].map(lambda v: mask_text(v) if isinstance(v, str) else v)
    return out
