"""JSON errors of the control API: `{"error": what went wrong, "fix": what to do}`.

Refused requests (422) name each invalid field; errors an operator can fix map to 400, 404
(not found in this org — also another org's ids) or 409 (state conflict, e.g. not connected);
anything else is a 500 whose body carries only an incident id (the details are logged, with
secrets redacted). No response ever echoes a credential.
"""

from __future__ import annotations

import logging
import uuid

from starlette.responses import JSONResponse

from mc_pipelines.errors import ConflictError, FixableError
from mc_pipelines.mailchimp.errors import InvalidApiKeyFormat, MailchimpError
from mc_pipelines.mailchimp.redact import redact_text
from mc_pipelines.store.connections import NotConnectedError
from mc_pipelines.store.org_lock import OrgBusyError

log = logging.getLogger("mc_pipelines.api")

FIX = {
    400: "correct the request as the error says",
    401: "send the service token: Authorization: Bearer <MC_SERVICE_TOKEN>",
    404: "check the id: it must exist in this org (list the collection to see its ids)",
    409: "change the state the error names first, then retry",
    413: "send a smaller file (split it)",
    422: "send the fields as the OpenAPI document describes (GET /api/openapi.json)",
    500: "retry; if it keeps failing, report the incident id to the operators",
    502: "Mailchimp failed after retries: retry later (nothing local was changed)",
}


class RequestInvalid(Exception):
    """A request refused before any action ran: (field, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))
        self.problems = problems


class BodyTooLarge(Exception):
    """A request body over the endpoint's limit (413, nothing read further)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the request body is larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


def split_fix(message: str) -> tuple[str, str | None]:
    """`"problem: what to do"` → (problem, what to do), splitting at the first `: ` outside
    quotes and backticks; (message, None) when there is none."""
    quote = None
    for i, ch in enumerate(message):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif message.startswith(": ", i) and i > 0:
            return message[:i], message[i + 2:]
    return message, None


def _json(status: int, error: str, fix: str | None = None, **extra: object) -> JSONResponse:
    body = {"error": redact_text(error), "fix": redact_text(fix or FIX[status]), **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def status_of(exc: Exception) -> int:
    """The HTTP status an action's error maps to."""
    if isinstance(exc, MailchimpError):
        return 502
    if isinstance(exc, NotConnectedError | ConflictError | OrgBusyError):
        return 409
    if isinstance(exc, LookupError):
        return 404
    return 400


def error_response(exc: Exception) -> JSONResponse:
    """The JSON answer to an error raised by validation or an action."""
    if isinstance(exc, BodyTooLarge):
        return _json(413, str(exc), f"send at most {exc.max_bytes} bytes: split the file into "
                     "several and import them one by one")
    if isinstance(exc, RequestInvalid):
        fields = [{"field": f, "message": m} for f, m in exc.problems]
        return _json(422, "invalid request: " + "; ".join(f"{f}: {m}" for f, m in exc.problems),
                     fields=fields)
    if isinstance(exc, FixableError | InvalidApiKeyFormat | MailchimpError):
        error, fix = split_fix(" ".join(str(exc).split()))
        return _json(status_of(exc), error, fix)
    incident = uuid.uuid4().hex[:12]
    log.error("control API: unexpected %s (incident %s): %s", type(exc).__name__, incident,
              redact_text(str(exc)), exc_info=exc)
    return _json(500, f"internal error (incident {incident})")


def unauthorized(reason: str) -> JSONResponse:
    """401 with what to send."""
    return _json(401, reason)


def not_found_route() -> JSONResponse:
    """404 for a path the API does not have."""
    return _json(404, "no such endpoint", "see GET /api/openapi.json for the endpoints")


def method_not_allowed(allow: str) -> JSONResponse:
    """405 for a method the path does not take (`Allow` lists those it takes)."""
    return JSONResponse({"error": "method not allowed on this path",
                         "fix": f"use {allow or 'a method the OpenAPI document lists'}"},
                        status_code=405, headers={"Allow": allow} if allow else None)
