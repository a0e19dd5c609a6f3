import hashlib

import pandas as pd
import pytest

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.sync.emails import (
    EMAIL_RE,
    email_problem,
    email_problems,
    normalise_email,
    normalise_emails,
    subscriber_hashes,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ann@Example.com ", "Ann@Example.com"),
        ("\u00a0ann@example.com\u00a0", "ann@example.com"),
        ("\u200bann@example.com\ufeff", "ann@example.com"),
        ("\tann@example.com\r\n", "ann@example.com"),
        ("", ""),
        (None, None),
    ],
)
def test_normalise_email_trims_and_keeps_case(raw, expected):
    assert normalise_email(raw) == expected
    assert normalise_emails(pd.Series([raw], dtype=object)).iloc[0] == expected


def test_subscriber_hashes_matches_scalar_version():
    emails = pd.Series(["A@b.co", "x.Y@example.org", None, "ünï@example.org"], index=[5, 6, 7, 8])
    hashes = subscriber_hashes(emails)
    assert list(hashes.index) == [5, 6, 7, 8]
    assert hashes[5] == subscriber_hash("a@b.co")
    assert hashes[6] == subscriber_hash("X.y@EXAMPLE.org")
    assert hashes[7] is None
    assert hashes[8] == hashlib.md5("ünï@example.org".encode()).hexdigest()


@pytest.mark.parametrize(
    "email",
    [
        "a@b.co",
        "First.Last+news@sub.example.org",
        "o'brien@example.ie",
        "user_name-1@my-domain.co.uk",
        "x@xn--p1ai.example.xn--p1ai",
        "a" * 64 + "@example.com",
    ],
)
def test_valid_addresses_have_no_problem(email):
    assert email_problem(email) is None
    assert email_problems(pd.Series([email])).iloc[0] is None


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("ann.example.com", "no @"),
        ("ann@@example.com", "more than one @"),
        ("a@b@example.com", "more than one @"),
        ("ann smith@example.com", "contains spaces"),
        ("zoë@example.com", "non-ASCII characters (Mailchimp accepts ASCII addresses only)"),
        ("ann@exämple.com", "non-ASCII characters (Mailchimp accepts ASCII addresses only)"),
        ("ann@localhost", "domain has no dot"),
        ("ann..smith@example.com", "consecutive dots"),
        ("ann@example..com", "consecutive dots"),
        ("ann@example.com.", "ends with a dot"),
        ("a" * 250 + "@example.com", "longer than 254 characters"),
        ("a" * 65 + "@example.com", "local part longer than 64 characters"),
        ("ann\x00@example.com", "control characters"),
        ("ann\n@example.com", "control characters"),
        ("@example.com", "nothing before the @"),
        ("ann@", "nothing after the @"),
        (".ann@example.com", "local part starts or ends with a dot"),
        ("ann@-example.com", "invalid domain"),
        ("ann@example.c", "invalid top-level domain"),
        ("ann@example.123", "invalid top-level domain"),
        ("ann(x)@example.com", "characters not allowed in an address: ( )"),
    ],
)
def test_invalid_addresses_are_explained(email, reason):
    problem = email_problem(email)
    assert problem is not None
    assert reason in problem.split("; ") or problem.startswith(reason)
    vectorised = email_problems(pd.Series([email, "ok@example.com"], dtype=object))
    assert vectorised.tolist() == [problem, None]


def test_several_problems_are_all_named():
    assert email_problem("zoë smith@example.com.") == (
        "non-ASCII characters (Mailchimp accepts ASCII addresses only); contains spaces; "
        "ends with a dot"
    )


def test_pattern_rejects_trailing_newline():
    # `$` would accept "a@b.co\n"; the pattern must not.
    assert EMAIL_RE.match("a@b.co\n") is None
    assert EMAIL_RE.match("a@b.co") is not None
