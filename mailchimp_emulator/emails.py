"""Email address validation (syntax, fake-address detection) and subscriber hashes."""

from __future__ import annotations

import hashlib
import re

from .errors import DETAIL_BAD_EMAIL, detail_fake

# --------------------------------------------------------------------------------------------
# Email validation
# --------------------------------------------------------------------------------------------

_LOCAL_CHARS = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_RE = re.compile(
    rf"^{_LOCAL_CHARS}(?:\.{_LOCAL_CHARS})*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63}$"
)
FAKE_DOMAINS = frozenset(
    {
        "example.com", "example.org", "example.net", "example.edu",
        "test.com", "test.org", "test.net", "testing.com",
        "mailinator.com", "yopmail.com", "guerrillamail.com", "10minutemail.com",
        "email.com", "domain.com", "fake.com", "nowhere.com", "none.com",
    }
)  # fmt: skip
FAKE_TLDS = frozenset({"test", "example", "invalid", "localhost", "local"})
FAKE_LOCAL_PARTS = frozenset(
    {
        "test", "testing", "tester", "asdf", "asdfasdf", "qwerty", "fake", "noemail",
        "no-email", "none", "null", "nobody", "john.doe", "jane.doe", "johndoe", "janedoe",
        "abc", "xxx", "foo", "foobar",
    }
)  # fmt: skip
FAKE_ADDRESSES = frozenset({"alex@gmail.com"})


def email_problem(email: str) -> str | None:
    """``None`` if Mailchimp would accept ``email``, else the error text it returns."""
    if (
        not email
        or len(email) > 254
        or not email.isascii()
        or email.count("@") != 1
        or not _EMAIL_RE.match(email)
        or len(email.partition("@")[0]) > 64
    ):
        return DETAIL_BAD_EMAIL
    lower = email.lower()
    local, _, domain = lower.partition("@")
    if (
        lower in FAKE_ADDRESSES
        or domain in FAKE_DOMAINS
        or domain.rsplit(".", 1)[-1] in FAKE_TLDS
        or domain.startswith("example.")
        or local in FAKE_LOCAL_PARTS
    ):
        return detail_fake(email)
    return None


def subscriber_hash(email: str) -> str:
    """md5 of the lower-cased email, as Mailchimp computes it."""
    return hashlib.md5(email.lower().encode("utf-8")).hexdigest()


_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


def hash_from_path(segment: str) -> str | None:
    """A member path segment may be the subscriber hash or the email address itself."""
    if "@" in segment:
        return subscriber_hash(segment)
    if _HEX32.match(segment):
        return segment.lower()
    return None


