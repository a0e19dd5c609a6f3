"""Webhooks: `webhook-secret` (generate, show once, store the hash) and `webhooks` (serve the receiver)."""

from __future__ import annotations

import argparse

from mc_pipelines.actions import webhook_secrets
from mc_pipelines.cli.base import app_engine
from mc_pipelines.cli.support import add_org_command, cli_actor, fixable


@fixable
def cmd_webhook_secret(args: argparse.Namespace) -> int:
    """Generate the org's webhook secret; print it once with the URL to register in Mailchimp."""
    secret = webhook_secrets.generate_webhook_secret(app_engine(), args.org, actor=cli_actor())
    print(f"webhook secret for org {args.org} (shown once; only its hash is stored):")
    print(f"  {secret}")
    print("register this URL in Mailchimp (Audience → Settings → Webhooks), served over HTTPS:")
    print(f"  {webhook_secrets.webhook_url(args.org, secret, args.base_url)}")
    print("a new secret replaces the previous one: update the webhook in Mailchimp if one exists")
    return 0


def cmd_webhooks(args: argparse.Namespace) -> int:
    """Serve the receiver with uvicorn (access log off: request paths carry the secret)."""
    import uvicorn

    from mc_pipelines.webhooks.app import create_app

    app_engine()  # fail early, with what to fix, if the schema is missing
    print(f"Mailchimp webhook receiver on http://{args.host}:{args.port}"
          f"{webhook_secrets.WEBHOOK_PATH} (Ctrl-C to stop)")
    uvicorn.run(create_app(), host=args.host, port=args.port, access_log=False, log_level="info")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands."""
    p = add_org_command(subparsers, "webhook-secret", cmd_webhook_secret,
                        "generate the org's webhook secret (shown once, stored hashed)")
    p.add_argument("--base-url", default="https://YOUR-HOST",
                   help="public base URL of the receiver, used to print the full webhook URL")
    p = subparsers.add_parser("webhooks", help="serve the Mailchimp webhook receiver")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8787, help="port (default 8787)")
    p.set_defaults(handler=cmd_webhooks)
