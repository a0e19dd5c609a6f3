"""Email addresses as the whole project matches them: one normalisation, one subscriber hash.

LIFECYCLE.md defines an *address* as an email after the cohort's normalisation: every Unicode
space and zero-width character trimmed from both ends, the case kept (Mailchimp displays what the
contact typed), lower-cased only for matching and for the hash.  Cohort, push, pull, webhooks,
erasure and import all use these functions, so the same person is the same address everywhere.

Pure: no httpx, no pandas, no I/O — the sync core imports it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

__all__ = [
    "SUBSCRIBER_HASH_PATTERN",
    "TRIM_CHARS",
    "UNICODE_WHITESPACE",
    "ZERO_WIDTH",
    "address_key",
    "member_hash",
    "normalize_address",
    "subscriber_hash",
    "subscriber_hashes",
]

# Every character for which str.isspace() is true (incl. NBSP; a test checks the list stays
# complete) plus the invisible zero-width characters copy-paste leaves behind.
UNICODE_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
TRIM_CHARS = UNICODE_WHITESPACE + ZERO_WIDTH

SUBSCRIBER_HASH_PATTERN = r"[0-9a-f]{32}\Z"
_HASH_RE = re.compile(SUBSCRIBER_HASH_PATTERN)


def normalize_address(email: str) -> str:
    """The address of ``email``: Unicode spaces and zero-width characters trimmed; case kept."""
    return email.strip(TRIM_CHARS)


def address_key(email: str) -> str:
    """The matching key of ``email``: its normalised address, lower-cased."""
    return normalize_address(email).lower()


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the md5 hex digest of the lower-cased normalised address."""
    return hashlib.md5(address_key(email).encode("utf-8", "surrogatepass")).hexdigest()


def subscriber_hashes(emails: Iterable[object]) -> list[str | None]:
    """:func:`subscriber_hash` of each item; ``None`` for anything that is not a string."""
    return [subscriber_hash(e) if isinstance(e, str) else None for e in emails]


def member_hash(email_or_hash: str) -> str:
    """The subscriber hash for a path segment: a 32-hex hash as given, else the email's hash."""
    return email_or_hash if _HASH_RE.match(email_or_hash) else subscriber_hash(email_or_hash)
