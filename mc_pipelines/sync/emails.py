"""Email addresses of the cohort: vectorised normalisation and hashing, and validation with reasons.

The normalisation and the subscriber hash themselves live in `mc_pipelines.mailchimp.addresses`
(one implementation for the whole project); this module applies them to Series. Mailchimp keys
members by `md5(address.lower())`; the address itself keeps the case the contact typed (it is
what Mailchimp displays). Validation is deliberately stricter than RFC 5322: it
accepts what Mailchimp accepts (plain ASCII dot-atom addresses on a dotted domain) so that bad
addresses are reported here, with the contact id, rather than failing a batch call later.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from mc_pipelines.mailchimp.addresses import normalize_address
from mc_pipelines.mailchimp.addresses import subscriber_hashes as _hashes

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TLD = r"[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]"
# The strict pattern (lengths are checked with lookaheads so one regex decides validity).
# `\Z` rather than `$`: `$` would accept a trailing newline.
EMAIL_PATTERN = (
    rf"(?=[^@]{{1,64}}@)(?=.{{3,254}}\Z){_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+{_TLD}\Z"
)
EMAIL_RE = re.compile(EMAIL_PATTERN)

MAX_EMAIL_LENGTH = 254
MAX_LOCAL_LENGTH = 64

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LOCAL_CHARS_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]")
_LABEL_RE = re.compile(_LABEL + r"\Z")
_TLD_RE = re.compile(_TLD + r"\Z")


def normalise_email(s: str | None) -> str | None:
    """`normalize_address`: trim Unicode spaces and zero-width characters; keep the case.

    None stays None; anything else is converted to `str` first.
    """
    if s is None or (isinstance(s, float) and s != s):
        return None
    return normalize_address(str(s))


def normalise_emails(emails: pd.Series) -> pd.Series:
    """Vectorised `normalise_email`: missing values become None."""
    out = [normalise_email(e) for e in emails.tolist()]
    return pd.Series(out, index=emails.index, dtype=object)


def subscriber_hashes(emails: pd.Series) -> pd.Series:
    """Vectorised `subscriber_hash` (None for missing addresses), same index as `emails`."""
    return pd.Series(_hashes(emails.tolist()), index=emails.index, dtype=object)


def email_is_valid(emails: pd.Series) -> pd.Series:
    """Boolean Series: True where the address matches the strict pattern (missing → False)."""
    match = EMAIL_RE.match
    flags = [isinstance(e, str) and match(e) is not None for e in emails.tolist()]
    return pd.Series(np.fromiter(flags, dtype=bool, count=len(flags)), index=emails.index)


def email_problems(emails: pd.Series) -> pd.Series:
    """Why each address is unusable, as a human sentence; None where the address is valid.

    Pass normalised addresses (see `normalise_emails`). The strict regex decides validity for
    every row; the slower explanation runs only on the rows that failed it. Several problems
    are joined with "; ".
    """
    valid = email_is_valid(emails).to_numpy()
    out = np.full(len(emails), None, dtype=object)
    if not valid.all():
        out[~valid] = [_explain(e) for e in emails[~valid].tolist()]
    return pd.Series(out, index=emails.index, dtype=object)


def email_problem(email: str | None) -> str | None:
    """`email_problems` for one (normalised) address."""
    if isinstance(email, str) and EMAIL_RE.match(email):
        return None
    return _explain(email)


def _explain(email: object) -> str:
    if email is None or (isinstance(email, float) and email != email) or email == "":
        return "missing"
    if not isinstance(email, str):
        return f"not text ({type(email).__name__})"
    problems: list[str] = []
    if _CONTROL_RE.search(email):
        problems.append("control characters")
    if not email.isascii():
        problems.append("non-ASCII characters (Mailchimp accepts ASCII addresses only)")
    if any(c.isspace() for c in email if not _CONTROL_RE.match(c)):
        problems.append("contains spaces")
    if len(email) > MAX_EMAIL_LENGTH:
        problems.append(f"longer than {MAX_EMAIL_LENGTH} characters")
    ats = email.count("@")
    if ats == 0:
        problems.append("no @")
        return "; ".join(problems)
    if ats > 1:
        problems.append("more than one @")
        return "; ".join(problems)
    local, domain = email.split("@")
    if not local:
        problems.append("nothing before the @")
    elif len(local) > MAX_LOCAL_LENGTH:
        problems.append(f"local part longer than {MAX_LOCAL_LENGTH} characters")
    if not domain:
        problems.append("nothing after the @")
    if ".." in email:
        problems.append("consecutive dots")
    if email.endswith("."):
        problems.append("ends with a dot")
    if local.startswith(".") or local.endswith("."):
        problems.append("local part starts or ends with a dot")
    if domain.startswith("."):
        problems.append("domain starts with a dot")
    if domain and "." not in domain:
        problems.append("domain has no dot")
    if not problems:
        odd = sorted({c for c in local if not _LOCAL_CHARS_RE.match(c)})
        if odd:
            problems.append("characters not allowed in an address: " + " ".join(odd))
        labels = domain.split(".")
        if any(not _LABEL_RE.match(label) for label in labels):
            problems.append(
                "invalid domain (letters, digits and inner hyphens only, 63 characters per part)"
            )
        elif not _TLD_RE.match(labels[-1]):
            problems.append(f"invalid top-level domain '.{labels[-1]}'")
    return "; ".join(problems) or "not a valid email address"
