"""The one address normalisation and subscriber hash (``mc_pipelines.mailchimp.addresses``)."""

import hashlib
import subprocess
import sys

import pytest

from mc_pipelines.mailchimp.addresses import (
    UNICODE_WHITESPACE,
    address_key,
    member_hash,
    normalize_address,
    subscriber_hash,
    subscriber_hashes,
)
from mc_pipelines.sync.emails import normalise_email


def test_subscriber_hash_is_md5_of_lowercase():
    expected = hashlib.md5(b"urist.mcvankab@freddiesjokes.com").hexdigest()
    assert subscriber_hash("Urist.McVankab@freddiesjokes.com") == expected
    assert subscriber_hash("urist.mcvankab@freddiesjokes.com") == expected


def test_subscriber_hash():
    expected = hashlib.md5(b"urist.mcvankab@freddie.com").hexdigest()
    assert subscriber_hash(" Urist.McVankab@Freddie.com ") == expected
    assert subscriber_hash("urist.mcvankab@freddie.com") == expected


@pytest.mark.parametrize(
    "raw",
    ["\u00a0Ann@Example.com\u3000", "\u200bann@example.com\ufeff", "\tANN@example.com\r\n",
     "\u2060ann@example.com\u200d"],
)
def test_hash_trims_every_unicode_space_and_zero_width_character(raw):
    assert normalize_address(raw).lower() == "ann@example.com"
    assert address_key(raw) == "ann@example.com"
    assert subscriber_hash(raw) == hashlib.md5(b"ann@example.com").hexdigest()


def test_normalisation_keeps_the_case_and_inner_characters():
    assert normalize_address(" Ann.Lee@Example.com ") == "Ann.Lee@Example.com"
    assert normalize_address("a b@example.com") == "a b@example.com"


def test_cohort_and_client_agree():
    raw = "\u00a0Ann@Example.com\u200b"
    assert normalise_email(raw) == normalize_address(raw)
    assert subscriber_hash(normalise_email(raw)) == subscriber_hash(raw)


def test_subscriber_hashes_and_member_hash():
    assert subscriber_hashes(["A@b.co", None, 3]) == [subscriber_hash("a@b.co"), None, None]
    digest = subscriber_hash("a@b.co")
    assert member_hash(digest) == digest
    assert member_hash(" A@b.co") == digest


def test_trimmed_whitespace_list_is_complete():
    every = {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}
    assert set(UNICODE_WHITESPACE) == every


def test_pure_core_does_not_import_httpx():
    code = (
        "import sys; import mc_pipelines.sync.emails, mc_pipelines.mailchimp.addresses; "
        "import mc_pipelines.sync.cohort, mc_pipelines.sync.diff; "
        "print('httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
