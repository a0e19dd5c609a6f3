"""API key parsing and redaction: exact messages, never echoing more than the last 4 characters."""

from __future__ import annotations

import pickle
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mc_pipelines.mailchimp.errors import InvalidApiKeyFormat
from mc_pipelines.mailchimp.keys import ApiKey, parse_api_key, redact_key
from mc_pipelines.mailchimp.redact import redact_text

BODY = "0123456789abcdef0123456789abcdef"
KEY = f"{BODY}-us17"
WHERE = "copy it again from Mailchimp (Profile \u2192 Extras \u2192 API keys)"


def test_valid_key_parses_and_hides_its_secret():
    key = parse_api_key(KEY)
    assert key.dc == "us17"
    assert key.secret == KEY
    assert key.last4 == "cdef"
    assert repr(key) == "ApiKey(****cdef-us17)"
    assert str(key) == "ApiKey(****cdef-us17)"
    assert f"{key}" == "ApiKey(****cdef-us17)"
    assert BODY not in repr([key, {"k": key}])
    assert parse_api_key(f"{BODY}-eu1").dc == "eu1"
    assert parse_api_key(f"{BODY}-us100").dc == "us100"
    # frozen and comparable
    assert parse_api_key(KEY) == key
    with pytest.raises(AttributeError):
        key.dc = "us1"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(key)) == key


def test_redact_key():
    assert redact_key(KEY) == "****cdef"
    assert redact_key(BODY) == "****cdef"
    assert redact_key(f"  '{KEY}'\n") == "****cdef"
    assert redact_key("short") == "****"
    assert redact_key("") == "****"


BAD_KEYS = [
    (
        "",
        "Mailchimp API key is empty: paste the key from Mailchimp (Profile \u2192 Extras \u2192 API keys); "
        "it looks like 32 hexadecimal characters followed by '-' and the data centre, e.g. '-us1'",
    ),
    (
        "   \n",
        "Mailchimp API key is empty: paste the key from Mailchimp (Profile \u2192 Extras \u2192 API keys); "
        "it looks like 32 hexadecimal characters followed by '-' and the data centre, e.g. '-us1'",
    ),
    (
        f" {KEY}",
        "Mailchimp API key ****cdef has whitespace or a line break around it: remove the leading/trailing spaces",
    ),
    (
        f"{KEY}\n",
        "Mailchimp API key ****cdef has whitespace or a line break around it: remove the leading/trailing spaces",
    ),
    (
        f'"{KEY}"',
        "Mailchimp API key ****cdef is wrapped in quotes: remove the quote characters around it",
    ),
    (
        f"'{KEY}'",
        "Mailchimp API key ****cdef is wrapped in quotes: remove the quote characters around it",
    ),
    (
        f"{BODY[:10]} {BODY[10:]}-us17",
        f"Mailchimp API key ****cdef contains whitespace: a key has no spaces; {WHERE}",
    ),
    (
        BODY,
        "Mailchimp API key ****cdef has no data-centre suffix: a key ends in '-<dc>' such as '-us1'; "
        "copy the whole key including the part after the '-'",
    ),
    (
        f"{BODY}-",
        "Mailchimp API key ****cdef has no data-centre suffix: a key ends in '-<dc>' such as '-us1'; "
        "copy the whole key including the part after the '-'",
    ),
    (
        f"{BODY}-US17",
        "Mailchimp API key ****US17 has an invalid data-centre suffix: the part after the last '-' must be "
        f"two lowercase letters and 1-3 digits, e.g. 'us1' or 'us21'; {WHERE}",
    ),
    (
        f"{BODY}-us1234",
        "Mailchimp API key ****1234 has an invalid data-centre suffix: the part after the last '-' must be "
        f"two lowercase letters and 1-3 digits, e.g. 'us1' or 'us21'; {WHERE}",
    ),
    (
        f"us17-{BODY}",
        "Mailchimp API key ****cdef has an invalid data-centre suffix: the part after the last '-' must be "
        f"two lowercase letters and 1-3 digits, e.g. 'us1' or 'us21'; {WHERE}",
    ),
    (
        f"{BODY[:-1]}-us17",
        "Mailchimp API key ****bcde is malformed: the part before '-us17' must be 32 hexadecimal characters "
        f"but has 31; {WHERE}",
    ),
    (
        f"{BODY}0-us17",
        "Mailchimp API key ****def0 is malformed: the part before '-us17' must be 32 hexadecimal characters "
        f"but has 33; {WHERE}",
    ),
    (
        f"{BODY[:-1]}g-us17",
        "Mailchimp API key ****cdeg is malformed: the part before '-us17' must be 32 lowercase hexadecimal "
        f"characters (0-9, a-f) but contains other characters; {WHERE}",
    ),
    (
        f"{BODY.upper()}-us17",
        "Mailchimp API key ****CDEF is malformed: the part before '-us17' must be 32 lowercase hexadecimal "
        f"characters (0-9, a-f) but contains other characters; {WHERE}",
    ),
]


@pytest.mark.parametrize(
    ("raw", "message"), BAD_KEYS, ids=[f"bad{i}" for i in range(len(BAD_KEYS))]
)
def test_bad_keys_have_exact_messages(raw, message):
    with pytest.raises(InvalidApiKeyFormat) as info:
        parse_api_key(raw)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)
    if len(raw.strip()) > 8:
        assert BODY[:8] not in str(info.value)
        assert raw.strip() not in str(info.value)


def test_non_string_key():
    with pytest.raises(InvalidApiKeyFormat, match="must be a string, got NoneType"):
        parse_api_key(None)  # type: ignore[arg-type]


_key_chars = st.text(alphabet=string.hexdigits + "-_ \t\n\"'", min_size=12, max_size=48)


@given(_key_chars)
def test_errors_never_echo_more_than_four_characters(raw):
    try:
        key = parse_api_key(raw)
    except InvalidApiKeyFormat as exc:
        text = str(exc)
        core = raw.strip().strip("\"'")
        for i in range(len(core) - 7):
            window = core[i : i + 8]
            if window.strip():
                assert window not in text
    else:
        assert key.secret[:-8] not in repr(key)


@given(
    st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
    st.sampled_from(["us1", "us21", "eu3"]),
)
def test_valid_keys_roundtrip_and_redact(body, dc):
    raw = f"{body}-{dc}"
    key = parse_api_key(raw)
    assert (key.dc, key.last4) == (dc, body[-4:])
    assert repr(key) == f"ApiKey(****{body[-4:]}-{dc})"
    scrubbed = redact_text(f"calling with {raw} / {body}")
    assert body not in scrubbed and raw not in scrubbed


def test_api_key_constructed_directly_is_registered_for_redaction():
    secret = "fedcba9876543210fedcba9876543210"
    ApiKey(secret=f"{secret}-us9", dc="us9")
    assert redact_text(f"x {secret}-us9 y {secret} z") == "x ****3210-us9 y ****3210 z"


def test_redact_text_masks_unregistered_key_shapes_and_auth_headers():
    other = "abcdefabcdefabcdefabcdefabcd1234-us3"
    assert redact_text(f"key={other}") == "key=****1234-us3"
    assert redact_text("Authorization: Bearer abc.def-123") == "Authorization: Bearer [redacted]"
    assert (
        redact_text("(b'authorization', b'Basic YW55c3RyaW5nOmFi')")
        == "(b'authorization', b'Basic [redacted]')"
    )
    assert redact_text("{'Authorization': 'OAuth tok'}") == "{'Authorization': 'OAuth [redacted]'}"
