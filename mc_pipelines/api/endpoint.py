"""An endpoint of the control API: its route and its OpenAPI entry in one declaration.

The handler is synchronous (actions use the database and the Mailchimp client's own runner):
it runs in Starlette's thread pool, gets a validated `Call`, and returns the response model.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mc_pipelines.api.errors import BodyTooLarge, RequestInvalid, error_response
from mc_pipelines.api.models import Id, OrgId, RefId
from mc_pipelines.store.org_lock import org_lock

#: Path parameters by name: their type validates them and documents them.
PATH_PARAMS: dict[str, Any] = {
    "org_id": OrgId, "segment_id": Id, "contact_id": Id, "campaign_id": RefId,
    "request_id": RefId, "audience_id": RefId,
}
_ADAPTERS = {name: TypeAdapter(kind) for name, kind in PATH_PARAMS.items()}
MAX_BODY_BYTES = 64 * 1024

# a write of the API waits this long for a run of the org to finish, then answers 409
LOCK_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Call:
    """What a handler gets: the database, the audit actor, validated path values and body."""

    engine: Engine
    actor: str
    path: dict[str, Any]
    body: Any = None
    query: Any = None
    upload: bytes | None = None
    content_type: str = ""

    @property
    def org_id(self) -> str:
        """The org in the path: every query of the handler is scoped to it."""
        return self.path["org_id"]

    def org_locked(self, what: str) -> AbstractContextManager[None]:
        """The org's lock for a write (`what`, e.g. "erasure"): never while a run of the org
        writes; `OrgBusyError` (409) after `LOCK_WAIT_SECONDS`."""
        return org_lock(self.engine, self.org_id, holder=f"{self.actor} {what}", timeout=LOCK_WAIT_SECONDS)


@dataclass(frozen=True)
class Upload:
    """A raw (non-JSON) request body: a file of one of `media_types`, at most `max_bytes` (over
    it: 413 before the handler runs). The handler gets the bytes as `call.upload`."""

    media_types: tuple[str, ...]
    max_bytes: int
    description: str = ""


@dataclass(frozen=True)
class Download:
    """A file response: the handler returns a Starlette `Response` of one of `media_types`."""

    media_types: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class Endpoint:
    """One operation: `path` is relative to `/api`; `response` is a pydantic model (or None
    for 204); `errors` are the error statuses it documents besides 401 and 422. `query` is a
    pydantic model of the query parameters (validated like a body, unknown ones refused);
    `upload` a raw file body instead of a JSON one; `download` a file response instead of JSON."""

    method: str
    path: str
    operation_id: str
    summary: str
    handler: Callable[[Call], Any]
    body: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    errors: tuple[int, ...] = (404,)
    tag: str = ""
    description: str = ""
    body_required: bool = True
    query: type[BaseModel] | None = None
    upload: Upload | None = None
    download: Download | None = None
    path_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = tuple(re.findall(r"{(\w+)}", self.path))
        unknown = [n for n in names if n not in PATH_PARAMS]
        if unknown:
            raise ValueError(f"{self.operation_id}: add path parameter(s) {unknown} to PATH_PARAMS")
        object.__setattr__(self, "path_names", names)

    def asgi_handler(self, get_engine: Callable[[], Engine]) -> Callable[[Request], Awaitable[Response]]:
        """The request handler running this endpoint."""

        async def run(request: Request) -> Response:
            try:
                path = _path_values(self, request.path_params)
                query = _query(self, request) if self.query is not None else None
                body = await _body(self, request) if self.body is not None else None
                upload = await _upload(self.upload, request) if self.upload is not None else None
                call = Call(engine=get_engine(), actor="api", path=path, body=body, query=query,
                            upload=upload, content_type=_media_type(request))
                result = await run_in_threadpool(self.handler, call)
            except Exception as exc:  # mapped to a JSON error saying what to fix
                return error_response(exc)
            if isinstance(result, Response):  # a file (`download`)
                return result
            if self.response is None:
                return Response(status_code=self.status)
            return JSONResponse(result.model_dump(mode="json"), status_code=self.status)

        return run


def routes(endpoints: list[Endpoint], get_engine: Callable[[], Engine]) -> list[Route]:
    """One Starlette route per path, dispatching on the method, so a 405 lists in `Allow`
    every method the path takes."""
    by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint.asgi_handler(get_engine)

    def route(path: str, handlers: dict[str, Callable[[Request], Awaitable[Response]]]) -> Route:
        async def dispatch(request: Request) -> Response:
            return await handlers[request.method](request)

        return Route(path, dispatch, methods=list(handlers))

    return [route(path, handlers) for path, handlers in by_path.items()]


def _path_values(endpoint: Endpoint, raw: dict[str, Any]) -> dict[str, Any]:
    values, problems = {}, []
    for name in endpoint.path_names:
        value: Any = raw.get(name, "")
        if PATH_PARAMS[name] is Id:
            value = int(value) if re.fullmatch(r"[0-9]{1,19}", str(value)) else value
        try:
            values[name] = _ADAPTERS[name].validate_python(value, strict=True)
        except ValidationError as exc:
            problems.append((f"path.{name}", exc.errors()[0]["msg"]))
    if problems:
        raise RequestInvalid(problems)
    return values


async def _body(endpoint: Endpoint, request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise RequestInvalid([("body", f"larger than {MAX_BODY_BYTES} bytes")])
    if not raw.strip() and not endpoint.body_required:
        raw = b"{}"
    assert endpoint.body is not None
    try:
        return endpoint.body.model_validate_json(raw)
    except ValidationError as exc:
        raise _problems(exc, "body") from None


def _problems(exc: ValidationError, where: str) -> RequestInvalid:
    return RequestInvalid([(".".join([where, *[str(p) for p in problem["loc"]]]), problem["msg"])
                           for problem in exc.errors()])


def _query(endpoint: Endpoint, request: Request) -> Any:
    assert endpoint.query is not None
    raw = request.query_params
    repeated = sorted({k for k in raw if len(raw.getlist(k)) > 1})
    if repeated:
        raise RequestInvalid([(f"query.{k}", "given more than once") for k in repeated])
    try:
        return endpoint.query.model_validate(dict(raw))
    except ValidationError as exc:
        raise _problems(exc, "query") from None


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _upload(upload: Upload, request: Request) -> bytes:
    """The raw body, read up to `upload.max_bytes` (refused as soon as it is over)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > upload.max_bytes:
        raise BodyTooLarge(upload.max_bytes)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > upload.max_bytes:
            raise BodyTooLarge(upload.max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)
