"""The Starlette app receiving Mailchimp webhooks.

URL: `/mailchimp/webhook/{org_id}/{secret}`. The secret sits in the path (Mailchimp signs
nothing, and refuses a second webhook whose URL differs only by query string); it is checked in
constant time against the stored SHA-256 hash, and an unknown org, a disconnected org and a wrong
secret all get the same 403. Mailchimp validates the URL with a GET when the webhook is created:
answered 200 once the secret checks out. Serve it behind HTTPS, with access logs off (they would
contain the secret) — `mc-pipelines webhooks` does that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mc_pipelines.actions.webhook_secrets import WEBHOOK_PATH
from mc_pipelines.config import database_url
from mc_pipelines.store.connections import get_connection
from mc_pipelines.store.db import engine_for
from mc_pipelines.store.secrets import verify_webhook_secret
from mc_pipelines.webhooks.events import WebhookPayloadError, parse_event
from mc_pipelines.webhooks.inbox import record_event

log = logging.getLogger("mc_pipelines.webhooks")
MAX_BODY_BYTES = 256 * 1024


def _secret_ok(engine: Engine, org_id: str, secret: str) -> bool:
    connection = get_connection(engine, org_id)
    stored = connection.webhook_secret_hash if connection and not connection.disconnected_at else None
    # hash the candidate even when nothing is stored, so timing says nothing about the org
    return verify_webhook_secret(secret, stored or "0" * 64) and stored is not None


def create_app(engine: Engine | Callable[[], Engine] | None = None) -> Starlette:
    """The receiver app on `engine` (default: the application DB of `MC_DATABASE_URL`)."""

    def get_engine() -> Engine:
        if engine is None:
            return engine_for(database_url())
        return engine if isinstance(engine, Engine) else engine()

    async def webhook(request: Request) -> Response:
        org_id, secret = request.path_params["org_id"], request.path_params["secret"]
        db = get_engine()
        if not await run_in_threadpool(_secret_ok, db, org_id, secret):
            return PlainTextResponse("forbidden", status_code=403)
        if request.method in ("GET", "HEAD"):  # Mailchimp's URL validation
            return PlainTextResponse("ok")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return PlainTextResponse("payload too large", status_code=413)
        try:
            event = parse_event(body)
        except WebhookPayloadError as exc:
            return PlainTextResponse(f"bad webhook payload: {exc}", status_code=400)
        recorded = await run_in_threadpool(record_event, db, org_id, event)
        log.info("org %s: %s event %s (%d consent withdrawn)", org_id, event.type,
                 "stored" if recorded.new else "duplicate", len(recorded.consent_withdrawn))
        return JSONResponse({"status": "stored" if recorded.new else "duplicate",
                             "consent_withdrawn": len(recorded.consent_withdrawn)})

    async def health(_request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[
        Route(WEBHOOK_PATH, webhook, methods=["GET", "HEAD", "POST"]),
        Route("/healthz", health, methods=["GET"]),
    ])
