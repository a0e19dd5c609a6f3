"""Configuration read from the environment (see README, "Configuration")."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///.data/app.db"
DEFAULT_MAILCHIMP_BASE_URL = "https://{dc}.api.mailchimp.com/3.0"
DATA_DIR = Path(".data")


def database_url() -> str:
    """The application database URL (`MC_DATABASE_URL`, default: the embedded SQLite file)."""
    return os.environ.get("MC_DATABASE_URL") or DEFAULT_DATABASE_URL


def mailchimp_base_url() -> str:
    """The Mailchimp API base URL template; `{dc}` is replaced by the account's data centre."""
    return os.environ.get("MC_MAILCHIMP_BASE_URL") or DEFAULT_MAILCHIMP_BASE_URL
