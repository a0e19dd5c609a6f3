"""Assembling the control API (and, for `mc-pipelines serve`, the webhook receiver beside it).

`create_app` builds the API from `routes.ROUTE_MODULES`: each module's `ENDPOINTS` become routes
and entries of the OpenAPI document (`GET /api/openapi.json`, public); every other path needs
the bearer service token. `create_server` mounts it at `/api` next to the webhook receiver.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from mc_pipelines.api.auth import ServiceTokenMiddleware
from mc_pipelines.api.endpoint import Endpoint, routes
from mc_pipelines.api.errors import method_not_allowed, not_found_route
from mc_pipelines.api.openapi import openapi_document
from mc_pipelines.api.routes import ROUTE_MODULES
from mc_pipelines.config import database_url
from mc_pipelines.store.db import engine_for

EngineSource = Engine | Callable[[], Engine] | None


def endpoints() -> list[Endpoint]:
    """Every endpoint of every route module, in module order."""
    return [endpoint for module in ROUTE_MODULES for endpoint in module.ENDPOINTS]


def _engine_getter(engine: EngineSource) -> Callable[[], Engine]:
    if engine is None:
        return lambda: engine_for(database_url())
    if isinstance(engine, Engine):
        return lambda: engine
    return engine


async def _http_error(_request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return method_not_allowed(dict(exc.headers or {}).get("Allow", ""))
    return not_found_route()


def create_app(token: str, engine: EngineSource = None) -> Starlette:
    """The control API (paths relative to its mount point `/api`), guarded by `token`."""
    declared = endpoints()
    document = openapi_document(declared)

    async def openapi(_request: Request) -> Response:
        return JSONResponse(document)

    get_engine = _engine_getter(engine)
    return Starlette(routes=[Route("/openapi.json", openapi, methods=["GET"]), *routes(declared, get_engine)], middleware=[Middleware(ServiceTokenMiddleware, token=token)],
                     exception_handlers={HTTPException: _http_error})


def create_server(token: str, engine: EngineSource = None) -> Starlette:
    """What `mc-pipelines serve` runs: the control API under `/api` and the webhook receiver
    (`/mailchimp/webhook/{org_id}/{secret}`, `/healthz`) on the same port."""
    from mc_pipelines.webhooks.app import create_app as create_webhooks

    return Starlette(routes=[Mount("/api", app=create_app(token, engine)), *create_webhooks(engine).routes],
                     exception_handlers={HTTPException: _http_error})
