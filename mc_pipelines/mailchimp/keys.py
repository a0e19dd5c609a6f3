"""Mailchimp credentials: API keys ``<32 hex>-<dc>`` and OAuth access tokens.

An API key carries its data centre (``us1`` … ``us21``, ``eu1``…) after the last
``-``; an OAuth token does not, so its data centre is read from the OAuth
metadata endpoint (:func:`mc_pipelines.mailchimp.oauth.fetch_oauth_metadata`).

Nothing here ever puts a whole key in a message or repr: at most its last four
characters (``"****abcd"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import InvalidApiKeyFormat
from .redact import mask, register_secret

__all__ = [
    "ApiKey",
    "InvalidApiKeyFormat",
    "parse_api_key",
    "redact_key",
]

_DC_RE = re.compile(r"^[a-z]{2}\d{1,3}$")
_BODY_RE = re.compile(r"^[0-9a-f]{32}$")
_HEX_RE = re.compile(r"^[0-9a-f]*$")
_QUOTES = "\"'`\u2018\u2019\u201c\u201d"
_WHERE = "copy it again from Mailchimp (Profile \u2192 Extras \u2192 API keys)"


@dataclass(frozen=True)
class ApiKey:
    """A parsed Mailchimp credential.  ``repr``/``str`` show only ``ApiKey(****abcd-us1)``."""

    secret: str = field(repr=False)
    dc: str

    def __post_init__(self) -> None:
        register_secret(self.secret)

    @property
    def last4(self) -> str:
        """The last four characters of the key body (the part before ``-<dc>``)."""
        head, sep, dc = self.secret.rpartition("-")
        body = head if sep and dc == self.dc else self.secret
        return body[-4:] if len(body) >= 16 else ""

    @property
    def label(self) -> str:
        """A safe label for messages and logs: ``"****abcd-us1"``."""
        return f"****{self.last4}-{self.dc}"

    def __repr__(self) -> str:
        return f"ApiKey({self.label})"

    __str__ = __repr__


def redact_key(raw: str) -> str:
    """``"****abcd"``: the last four characters of the key body (before ``-<dc>``), nothing more."""
    text = (raw or "").strip().strip(_QUOTES).strip()
    head, sep, dc = text.rpartition("-")
    if sep and (not dc or _DC_RE.match(dc)):
        text = head
    return mask(text)


def parse_api_key(raw: str) -> ApiKey:
    """Validate a Mailchimp API key and split off its data centre.

    Raises :class:`InvalidApiKeyFormat` (a ``ValueError``) whose message names the
    problem — empty, whitespace or quotes around it, missing ``-<dc>`` suffix,
    wrong length / non-hex body, malformed data centre — and shows at most the
    key's last four characters.
    """
    if not isinstance(raw, str):
        raise InvalidApiKeyFormat(
            f"Mailchimp API key must be a string, got {type(raw).__name__}; {_WHERE}"
        )
    if raw == "" or raw.strip() == "":
        raise InvalidApiKeyFormat(
            "Mailchimp API key is empty: paste the key from Mailchimp (Profile \u2192 Extras \u2192 "
            "API keys); it looks like 32 hexadecimal characters followed by '-' and the data centre, e.g. '-us1'"
        )
    shown = redact_key(raw)
    if raw != raw.strip():
        raise InvalidApiKeyFormat(
            f"Mailchimp API key {shown} has whitespace or a line break around it: remove the leading/trailing spaces"
        )
    if raw[0] in _QUOTES or raw[-1] in _QUOTES:
        raise InvalidApiKeyFormat(
            f"Mailchimp API key {shown} is wrapped in quotes: remove the quote characters around it"
        )
    if any(ch.isspace() for ch in raw):
        raise InvalidApiKeyFormat(
            f"Mailchimp API key {shown} contains whitespace: a key has no spaces; {_WHERE}"
        )
    body, sep, dc = raw.rpartition("-")
    if not sep or not dc:
        raise InvalidApiKeyFormat(
            f"Mailchimp API key {shown} has no data-centre suffix: a key ends in '-<dc>' such as '-us1'; "
            "copy the whole key including the part after the '-'"
        )
    if not _DC_RE.match(dc):
        raise InvalidApiKeyFormat(
            f"Mailchimp API key {shown} has an invalid data-centre suffix: the part after the last '-' "
            f"must be two lowercase letters and 1-3 digits, e.g. 'us1' or 'us21'; {_WHERE}"
        )
    if not _HEX_RE.match(body):
        raise InvalidApiKeyFormat(
            f"Mailchimp API key {shown} is malformed: the part before '-{dc}' must be 32 lowercase "
            f"hexadecimal characters (0-9, a-f) but contains other characters; {_WHERE}"
        )
    if not _BODY_RE.match(body):
        raise InvalidApiKeyFormat(
            f"Mailchimp API key {shown} is malformed: the part before '-{dc}' must be 32 hexadecimal "
            f"characters but has {len(body)}; {_WHERE}"
        )
    return ApiKey(secret=raw, dc=dc)
