"""Webhook secrets: generated here, shown once, stored hashed."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from mc_pipelines.actions.connections import require_connected
from mc_pipelines.store import connections
from mc_pipelines.store.secrets import hash_webhook_secret, new_webhook_secret

WEBHOOK_PATH = "/mailchimp/webhook/{org_id}/{secret}"


def generate_webhook_secret(engine: Engine, org_id: str, *, actor: str) -> str:
    """A fresh webhook secret for the org; only its hash is stored. Returns it (show it once)."""
    require_connected(engine, org_id)
    secret = new_webhook_secret()
    connections.update_connection(engine, org_id, actor=actor, action="webhook_secret",
                                  webhook_secret_hash=hash_webhook_secret(secret))
    return secret


def webhook_url(org_id: str, secret: str, base_url: str = "https://YOUR-HOST") -> str:
    """The URL to register in Mailchimp for this org's webhook."""
    return base_url.rstrip("/") + WEBHOOK_PATH.format(org_id=org_id, secret=secret)

