"""Webhooks: `webhook-secret` (generate, show once, store the hash) and `webhooks` (serve the receiver)."""

from __future__ import annotations

import click

from mc_pipelines.actions import webhook_secrets
from mc_pipelines.cli.support import app_engine, cli_actor, org_option


@click.command("webhook-secret", help="generate the org's webhook secret (shown once, stored hashed)")
@org_option
@click.option("--base-url", default="https://YOUR-HOST",
              help="public base URL of the receiver, used to print the full webhook URL")
def cmd_webhook_secret(org: str, base_url: str) -> int:
    """Generate the org's webhook secret; print it once with the URL to register in Mailchimp."""
    secret = webhook_secrets.generate_webhook_secret(app_engine(), org, actor=cli_actor())
    print(f"webhook secret for org {org} (shown once; only its hash is stored):")
    print(f"  {secret}")
    print("register this URL in Mailchimp (Audience → Settings → Webhooks), served over HTTPS:")
    print(f"  {webhook_secrets.webhook_url(org, secret, base_url)}")
    print("a new secret replaces the previous one: update the webhook in Mailchimp if one exists")
    return 0


@click.command("webhooks", help="serve the Mailchimp webhook receiver")
@click.option("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
@click.option("--port", type=int, default=8787, help="port (default 8787)")
def cmd_webhooks(host: str, port: int) -> int:
    """Serve the receiver with uvicorn (access log off: request paths carry the secret)."""
    import uvicorn

    from mc_pipelines.webhooks.app import create_app

    app_engine()  # fail early, with what to fix, if the schema is missing
    print(f"Mailchimp webhook receiver on http://{host}:{port}"
          f"{webhook_secrets.WEBHOOK_PATH} (Ctrl-C to stop)")
    uvicorn.run(create_app(), host=host, port=port, access_log=False, log_level="info")
    return 0


COMMANDS = [cmd_webhook_secret, cmd_webhooks]
