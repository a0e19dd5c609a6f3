"""Dagster resources: the application database, Mailchimp and the alert webhook.

Neither holds a secret in its config: `definitions.py` gives them the database URL and the Fernet
key as `dagster.EnvVar("MC_DATABASE_URL")` and `EnvVar("MC_SECRET_KEY")`, resolved when a run
starts, so the run config, the launchpad and metadata show the variable's name, never its value.
Mailchimp API keys are decrypted per org from the connection row only when a client is built.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import httpx
from dagster import ConfigurableResource, EnvVar
from pydantic import Field
from sqlalchemy.engine import Engine

from mc_pipelines.config import DATABASE_URL_ENV, DEFAULT_DATABASE_URL
from mc_pipelines.io_manager import RunScopedArrowIOManager
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.metrics import CallMetrics
from mc_pipelines.mailchimp.redact import install_redaction_filter, redact_text, register_secret
from mc_pipelines.mailchimp.settings import mailchimp_base_url
from mc_pipelines.store.connections import Connection, stored_credential
from mc_pipelines.store.db import engine_for
from mc_pipelines.store.secrets import SECRET_KEY_ENV, load_fernet


def _resolved(value: str | None) -> str | None:
    """A field's value; an `EnvVar` still unresolved (the resource used directly, outside a run or
    sensor, where Dagster resolves it) is read from the environment here."""
    return value.get_value() if isinstance(value, EnvVar) else value


class AppDatabase(ConfigurableResource):
    """The application database (PostgreSQL in production, SQLite for the demo)."""

    url: str = Field(
        description=f"SQLAlchemy URL of the application database; pass EnvVar({DATABASE_URL_ENV!r}) "
        "so credentials stay out of run config.",
    )
    full_emails_in_metadata: bool = Field(
        default=False,
        description="Show full email addresses, names and phones of contacts in Dagster metadata "
        "(previews, error samples). Off by default: metadata shows contact ids and masked "
        "addresses (a***@example.com), since the event log is kept beyond a GDPR erasure.",
    )

    @property
    def engine(self) -> Engine:
        """A pooled engine, shared by every asset of the process."""
        url = _resolved(self.url)
        if not url:
            raise ValueError(f"no application database URL: set {DATABASE_URL_ENV}")
        return engine_for(url)


class MailchimpResource(ConfigurableResource):
    """Builds Mailchimp clients for an org's stored connection."""

    secret_key: str | None = Field(
        default=None,
        description=f"Fernet key decrypting the stored API keys; pass EnvVar({SECRET_KEY_ENV!r}), never "
        f"a literal. Empty → {SECRET_KEY_ENV} read when a client is built (uses outside Dagster).",
    )
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
            stored_credential(connection, load_fernet(_resolved(self.secret_key))),
            oauth=connection.auth_kind == "oauth",
            base_url_template=self.base_url_template or mailchimp_base_url(),
            max_connections=self.max_connections,
            timeout=self.timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_base=self.backoff_base_seconds,
            metrics=metrics,
        )


ALERT_WEBHOOK_URL_ENV = "MC_ALERT_WEBHOOK_URL"
_EMAIL = re.compile(r"[^\s@<>\"'(),;:]+@[^\s@<>\"'(),;:]+\.[A-Za-z]{2,}")


class AlertDeliveryError(Exception):
    """The alert webhook did not take an alert (the message never names its URL)."""


def scrub(text: str) -> str:
    """`text` fit for an alert: secrets masked, email addresses replaced (alerts leave the app)."""
    return _EMAIL.sub("<email>", redact_text(text))


class AlertWebhook(ConfigurableResource):
    """Posts alerts as Slack-compatible JSON (`{"text": ..., "blocks": [...]}`) to a webhook.

    The URL is a secret (a Slack webhook URL is its own credential): pass
    `EnvVar("MC_ALERT_WEBHOOK_URL")`; empty → alerts are off. It is registered with the project's
    log redaction before any request, and never appears in an exception, metadata or log line."""

    url: str | None = Field(
        default=None,
        description=f"Webhook URL; pass EnvVar({ALERT_WEBHOOK_URL_ENV!r}), never a literal. Empty: alerts off.",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="Per-request timeout.")

    def _url(self) -> str | None:
        return _resolved(self.url) or None

    @property
    def enabled(self) -> bool:
        """True when a webhook URL is configured."""
        return self._url() is not None

    def send(self, payload: Mapping[str, Any]) -> bool:
        """POST `payload`; False when alerts are off; `AlertDeliveryError` when the webhook refuses."""
        url = self._url()
        if url is None:
            return False
        register_secret(url, basic_auth_user=None)  # masked in httpx's own request log line
        install_redaction_filter()
        try:
            response = httpx.post(url, json=dict(payload), timeout=self.timeout_seconds)
        except httpx.HTTPError as exc:
            raise AlertDeliveryError(
                f"the alert webhook ({ALERT_WEBHOOK_URL_ENV}) could not be reached: {type(exc).__name__}") from None
        if response.status_code >= 300:
            raise AlertDeliveryError(
                f"the alert webhook ({ALERT_WEBHOOK_URL_ENV}) answered HTTP {response.status_code}")
        return True


def project_resources() -> dict[str, ConfigurableResource | RunScopedArrowIOManager]:
    """The resources of the code location: database URL and Fernet key from the environment
    through `EnvVar` (resolved at run launch, never shown as values).

    `EnvVar` has no default (an unset variable fails the run), so an unset `MC_DATABASE_URL` is
    set here to the embedded SQLite default the CLI uses too, in every process that loads the
    definitions (code server, run workers, the CLI's in-process runs)."""
    os.environ.setdefault(DATABASE_URL_ENV, DEFAULT_DATABASE_URL)
    os.environ.setdefault(ALERT_WEBHOOK_URL_ENV, "")  # unset: alerts off (not a failed sensor tick)
    return {
        "app_db": AppDatabase(url=EnvVar(DATABASE_URL_ENV)),
        "mailchimp": MailchimpResource(secret_key=EnvVar(SECRET_KEY_ENV)),
        "alerts": AlertWebhook(url=EnvVar(ALERT_WEBHOOK_URL_ENV)),
        # frames between steps: Arrow files in a per-run directory removed when the run ends
        "io_manager": RunScopedArrowIOManager(),
    }
