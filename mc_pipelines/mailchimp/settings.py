"""Where the Mailchimp API is: the base URL template, overridable from the environment (the
emulator's is `http://127.0.0.1:PORT/{dc}/3.0`)."""

from __future__ import annotations

import os

BASE_URL_ENV = "MC_MAILCHIMP_BASE_URL"
DEFAULT_MAILCHIMP_BASE_URL = "https://{dc}.api.mailchimp.com/3.0"


def mailchimp_base_url() -> str:
    """The Mailchimp API base URL template (`MC_MAILCHIMP_BASE_URL`, default Mailchimp's own);
    `{dc}` is replaced by the account's data centre."""
    return os.environ.get(BASE_URL_ENV) or DEFAULT_MAILCHIMP_BASE_URL
