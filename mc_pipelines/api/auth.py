"""The service token: one bearer secret shared with the host application, from the environment.

`MC_SERVICE_TOKEN` must be set (at least 24 characters) or the server refuses to start, naming
the variable; only the demo (`mc-pipelines serve --demo`) falls back to a generated token in
`.data/service.token` (mode 600). Requests are checked in constant time (`hmac.compare_digest`).
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from mc_pipelines.api.errors import unauthorized
from mc_pipelines.errors import FixableError

SERVICE_TOKEN_ENV = "MC_SERVICE_TOKEN"
MIN_TOKEN_LENGTH = 24
PUBLIC_PATHS = frozenset({"/openapi.json"})  # relative to the API's mount point


class ServiceTokenError(FixableError):
    """No usable service token: the server does not start."""


def check_token(token: str | None) -> str:
    """`token` if usable, else ServiceTokenError naming the variable and how to make one."""
    if not token or not token.strip():
        raise ServiceTokenError(
            f"{SERVICE_TOKEN_ENV} is not set: set it to a random secret of at least "
            f"{MIN_TOKEN_LENGTH} characters (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`) and give the host application the same value "
            "(only `mc-pipelines serve --demo` runs without it)")
    if len(token) < MIN_TOKEN_LENGTH or token != token.strip():
        raise ServiceTokenError(
            f"{SERVICE_TOKEN_ENV} is too short or has spaces around it: use a random secret of at "
            f"least {MIN_TOKEN_LENGTH} characters")
    return token


def service_token(*, demo: bool = False, data_dir: Path | None = None) -> str:
    """The token from `MC_SERVICE_TOKEN`; for the demo only, `data_dir/service.token` (created)."""
    token = os.environ.get(SERVICE_TOKEN_ENV)
    if token or not demo:
        return check_token(token)
    from mc_pipelines.config import DATA_DIR

    path = (data_dir or DATA_DIR) / "service.token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return check_token(path.read_text().strip())


def token_matches(header: str | None, token: str) -> bool:
    """Whether an `Authorization` header carries the token (constant-time comparison)."""
    scheme, _, given = (header or "").partition(" ")
    candidate = given.strip() if scheme.lower() == "bearer" else ""
    return hmac.compare_digest(candidate.encode("utf-8", "surrogateescape"), token.encode())


def relative_path(request: Request) -> str:
    """The request path below the API's mount point (Starlette keeps the full path in scope)."""
    path, root = request.scope["path"], request.scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


class ServiceTokenMiddleware(BaseHTTPMiddleware):
    """Every path but the OpenAPI document and the health check needs the bearer token."""

    def __init__(self, app, token: str) -> None:
        super().__init__(app)
        self._token = check_token(token)

    async def dispatch(self, request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Refuse with 401 unless the path is public or the token matches."""
        if relative_path(request) in PUBLIC_PATHS:
            return await call_next(request)
        if not token_matches(request.headers.get("authorization"), self._token):
            return unauthorized("missing or wrong service token")
        return await call_next(request)
