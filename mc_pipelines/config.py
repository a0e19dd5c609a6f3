"""Configuration read from the environment (see README, "Configuration"); the Mailchimp base URL
is `mc_pipelines.mailchimp.settings`."""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_URL_ENV = "MC_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///.data/app.db"
DATA_DIR = Path(".data")


def database_url() -> str:
    """The application database URL (`MC_DATABASE_URL`, default: the embedded SQLite file)."""
    return os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL



def database_kind(url: str | None = None) -> str:
    """The Dagster kind of the application database (`postgres`, `sqlite`, or SQLAlchemy's
    dialect name), from `url` or the configured `database_url()`; the assets' kinds follow it."""
    dialect = (url or database_url()).partition(":")[0].partition("+")[0].lower()
    return "postgres" if dialect in ("postgres", "postgresql") else dialect
