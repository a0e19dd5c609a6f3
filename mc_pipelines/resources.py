"""Dagster resources: the application database and Mailchimp.

Neither holds a secret in its config: the database URL defaults to `MC_DATABASE_URL` read at run
time, and Mailchimp API keys are decrypted per org from the connection row only when a client is
built, so no key ever reaches run config, the launchpad or metadata.
"""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field
from sqlalchemy.engine import Engine

from mc_pipelines.config import database_url
from mc_pipelines.mailchimp.client import MailchimpClient
from mc_pipelines.mailchimp.metrics import CallMetrics
from mc_pipelines.mailchimp.settings import mailchimp_base_url
from mc_pipelines.store.connections import Connection
from mc_pipelines.store.db import engine_for
from mc_pipelines.store.secrets import decrypt_secret


class AppDatabase(ConfigurableResource):
    """The application database (PostgreSQL in production, SQLite for the demo)."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; leave empty to read MC_DATABASE_URL at run time "
        "(keeps credentials out of run config).",
    )

    @property
    def engine(self) -> Engine:
        """A pooled engine, shared by every asset of the process."""
        return engine_for(self.url or database_url())


class MailchimpResource(ConfigurableResource):
    """Builds Mailchimp clients for an org's stored connection."""

    base_url_template: str | None = Field(
        default=None,
        description="API base URL with a {dc} placeholder; empty → MC_MAILCHIMP_BASE_URL or "
        "https://{dc}.api.mailchimp.com/3.0",
    )
    max_connections: int = Field(
        default=8, ge=1, le=10,
        description="Concurrent requests per Mailchimp account (Mailchimp allows 10).",
    )
    timeout_seconds: float = Field(default=120.0, description="Per-request timeout (Mailchimp cuts at 120 s).")
    max_attempts: int = Field(default=6, ge=1, description="Attempts per request on 429/5xx/dropped connections.")
    backoff_base_seconds: float = Field(default=0.25, gt=0, description="First retry delay (exponential, full jitter).")

    def client_for(self, connection: Connection, metrics: CallMetrics | None = None) -> MailchimpClient:
        """An async client for the org's account (decrypts the stored key; never logs it)."""
        if not connection.api_key_encrypted:
            raise ValueError(f"org {connection.org_id!r} has no stored Mailchimp API key")
        return MailchimpClient(
            decrypt_secret(connection.api_key_encrypted),
            base_url_template=self.base_url_template or mailchimp_base_url(),
            max_connections=self.max_connections,
            timeout=self.timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_base=self.backoff_base_seconds,
            metrics=metrics,
        )
