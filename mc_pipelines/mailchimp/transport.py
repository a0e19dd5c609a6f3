"""HTTP transport of the Mailchimp client: httpx, auth, retries, the one concurrency limiter.

One :class:`Transport` (the base of :class:`~mc_pipelines.mailchimp.endpoints.MailchimpClient`)
per API key per run.  All its calls share

* one ``httpx.AsyncClient`` (connection pool of ``max_connections``) and one
  ``asyncio.Semaphore(max_connections)`` held around every HTTP attempt, so the
  calls of a run never have more than ``max_connections`` (≤ 10, Mailchimp's
  per-key limit) requests in flight — this semaphore is the project's one limiter;
* a retry policy: 429, 5xx and transport failures (connect/read/write errors,
  timeouts, dropped connections) are retried with exponential backoff and full
  jitter — ``random.uniform(0, min(backoff_cap, backoff_base * 2**n))`` after
  ``n`` failed attempts (defaults 0.25 s and 8 s), but at least ``Retry-After``
  seconds when the server sends it.  At most ``max_attempts`` attempts (6), and
  no attempt starts later than ``max_retry_seconds`` (120 s) after the first, so
  a call takes at most that plus one ``timeout`` (120 s, Mailchimp's own cut-off).
  Other 4xx are never retried: they raise a typed
  :mod:`~mc_pipelines.mailchimp.errors` error.  The semaphore is released while
  backing off.
* "maybe applied" tracking: a call whose earlier attempt may have been applied
  (its answer was lost, or a 5xx) reports so through ``meta["ambiguous"]`` on
  success and ``error.ambiguous`` on failure;
* counters (:class:`~mc_pipelines.mailchimp.metrics.CallMetrics`) per endpoint
  template, and DEBUG log lines on ``mc_pipelines.mailchimp`` per attempt with
  method, endpoint template, status, duration and attempt — never a key, an
  ``Authorization`` header or a URL with ids.

Credentials: an API key is sent as HTTP Basic (any user name); an OAuth access token as
``Authorization: Bearer <token>``, its data centre read once from the OAuth metadata endpoint
(:mod:`~mc_pipelines.mailchimp.oauth`).  Downloads from URLs Mailchimp hands out (batch
results on S3) go through a second, credential-free httpx client, under the same limiter.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx

from . import wire_json
from .errors import (
    InvalidApiKey,
    MailchimpError,
    ServerError,
    TransportError,
    WrongDatacenter,
    error_from_response,
)
from .keys import ApiKey, InvalidApiKeyFormat, parse_api_key
from .limits import MAX_CONNECTIONS_LIMIT, PAGE_LIMIT
from .metrics import CallMetrics
from .oauth import fetch_oauth_metadata
from .oauth import oauth_metadata_url as _metadata_url
from .redact import install_redaction_filter, mask, redact_text, register_secret
from .settings import mailchimp_base_url

__all__ = ["Transport"]

logger = logging.getLogger("mc_pipelines.mailchimp")

T = TypeVar("T")

# Answers at least this large are decoded in a worker thread (see `_call`).
DECODE_IN_THREAD_BYTES = 256 * 1024

# Transport failures worth retrying, and those that prove the request was never sent.
_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(v) for v in value)
    return value


def _query(params: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: _query_value(v) for k, v in (params or {}).items() if v is not None}


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _json(raw: bytes) -> Any:
    return wire_json.loads(raw) if raw.strip() else {}


class Transport:
    """HTTP plumbing for one Mailchimp account (API key or OAuth token).

    ``base_url_template`` defaults to ``MC_MAILCHIMP_BASE_URL`` or
    ``https://{dc}.api.mailchimp.com/3.0``; ``{dc}`` is filled from the key.  With
    ``oauth=True`` the credential is an OAuth access token sent as ``Bearer``; its
    data centre is read from ``oauth_metadata_url`` (default
    ``MC_MAILCHIMP_OAUTH_METADATA_URL`` or Mailchimp's) on first use unless an
    :class:`ApiKey` with ``dc`` is given.

    Use as ``async with MailchimpClient(key) as mc: ...`` (or call :meth:`aclose`).
    """

    def __init__(
        self,
        api_key: str | ApiKey,
        *,
        base_url_template: str | None = None,
        max_connections: int = 8,
        timeout: float = 120.0,
        max_attempts: int = 6,
        max_retry_seconds: float = 120.0,
        backoff_base: float = 0.25,
        backoff_cap: float = 8.0,
        metrics: CallMetrics | None = None,
        oauth: bool = False,
        oauth_metadata_url: str | None = None,
        user_agent: str = "mc-pipelines (httpx)",
    ) -> None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise TypeError("max_connections must be an int")
        if not 1 <= max_connections <= MAX_CONNECTIONS_LIMIT:
            raise ValueError(
                f"max_connections must be between 1 and {MAX_CONNECTIONS_LIMIT} "
                f"(Mailchimp allows {MAX_CONNECTIONS_LIMIT} simultaneous connections per key), got {max_connections}"
            )
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if timeout <= 0 or max_retry_seconds < 0 or backoff_base < 0 or backoff_cap < 0:
            raise ValueError(
                "timeout must be positive; max_retry_seconds and backoff values non-negative"
            )

        install_redaction_filter()
        self.oauth = oauth
        self._key: ApiKey | None
        if isinstance(api_key, ApiKey):
            self._key = api_key
            self._secret = api_key.secret
        elif oauth:
            token = (api_key or "").strip()
            if not token:
                raise InvalidApiKeyFormat(
                    "Mailchimp OAuth token is empty: reconnect the Mailchimp account"
                )
            register_secret(token, basic_auth_user=None)
            try:
                self._key = parse_api_key(token)
            except InvalidApiKeyFormat:
                self._key = None  # dc comes from the metadata endpoint
            self._secret = token
        else:
            self._key = parse_api_key(api_key)
            self._secret = self._key.secret
        register_secret(self._secret, basic_auth_user=None if oauth else "anystring")

        self.base_url_template = base_url_template or mailchimp_base_url()
        self.oauth_metadata_url = _metadata_url(oauth_metadata_url)
        self.max_connections = max_connections
        self.timeout = float(timeout)
        self.max_attempts = int(max_attempts)
        self.max_retry_seconds = float(max_retry_seconds)
        self.backoff_base = float(backoff_base)
        self.backoff_cap = float(backoff_cap)
        self.metrics = metrics if metrics is not None else CallMetrics()
        self.user_agent = user_agent

        self._http: httpx.AsyncClient | None = None
        self._plain: httpx.AsyncClient | None = None  # no credentials: for URLs Mailchimp hands out
        self._sem: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resolving: asyncio.Future[ApiKey] | None = None

    # ------------------------------------------------------------------ identity

    @property
    def key(self) -> ApiKey | None:
        """The parsed credential (``None`` until an OAuth token's data centre is known)."""
        return self._key

    @property
    def key_label(self) -> str:
        """A label safe for messages: ``****abcd-us1`` (or a masked token)."""
        return self._key.label if self._key else mask(self._secret)

    @property
    def base_url(self) -> str | None:
        """The API root with the data centre filled in (``None`` until it is known)."""
        return self.base_url_template.replace("{dc}", self._key.dc) if self._key else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key_label}, base_url={self.base_url_template!r})"

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        await self._client()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pools (a no-op when they belong to a finished event loop)."""
        clients = [c for c in (self._http, self._plain) if c is not None]
        self._http = self._plain = None
        loop, self._loop = self._loop, None
        self._sem = None
        if loop is asyncio.get_running_loop():
            for http in clients:
                await http.aclose()

    async def _resolve_key(self) -> ApiKey:
        metadata = await fetch_oauth_metadata(
            self._secret, self.oauth_metadata_url, timeout=min(self.timeout, 30.0)
        )
        return ApiKey(secret=self._secret, dc=metadata.dc)

    def _limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.max_connections, max_keepalive_connections=self.max_connections
        )

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, connect=min(self.timeout, 15.0))

    async def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is not None and self._loop is loop:
            return self._http
        if self._key is None:
            if self._resolving is None or self._resolving.get_loop() is not loop:
                self._resolving = asyncio.ensure_future(self._resolve_key())
            self._key = await asyncio.shield(self._resolving)
        if self._http is not None and self._loop is loop:  # another task got here first
            return self._http
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        auth: httpx.Auth | None = None
        if self.oauth:
            headers["Authorization"] = f"Bearer {self._secret}"
        else:
            auth = httpx.BasicAuth("anystring", self._secret)
        # A client created on another (finished) event loop cannot be reused; drop it.
        self._http = httpx.AsyncClient(
            base_url=self.base_url or "",
            auth=auth,
            headers=headers,
            timeout=self._timeout(),
            limits=self._limits(),
            follow_redirects=False,
        )
        self._plain = None
        self._sem = asyncio.Semaphore(self.max_connections)
        self._loop = loop
        return self._http

    async def _plain_client(self) -> httpx.AsyncClient:
        await self._client()  # same loop and limiter as the API client
        if self._plain is None:
            self._plain = httpx.AsyncClient(
                headers={"User-Agent": self.user_agent},
                timeout=self._timeout(),
                limits=self._limits(),
                follow_redirects=True,
            )
        return self._plain

    def _backoff(self, attempt: int) -> float:
        """Full-jitter delay after ``attempt`` failed attempts: ``U(0, min(cap, base * 2**attempt))``."""
        return random.uniform(0.0, min(self.backoff_cap, self.backoff_base * 2**attempt))

    def _calls_other_dc(self) -> bool:
        """True when the base URL is fixed (no ``{dc}``) and does not name the key's data centre."""
        if "{dc}" in self.base_url_template or self._key is None:
            return False
        return re.search(rf"(?<![a-z0-9]){self._key.dc}(?![0-9])", self.base_url_template) is None

    def _context(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key_label}
        if self._key is not None:
            out["dc"] = self._key.dc
        out.update(context or {})
        return out

    # ------------------------------------------------------------------ calls

    async def _request(
        self,
        method: str,
        template: str,
        *,
        path: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        context: Mapping[str, Any] | None = None,
        idempotent: bool = True,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One logical call with retries; returns the JSON body (``{}`` for an empty answer).

        When ``meta`` is given, ``meta["ambiguous"]`` tells on success whether an earlier attempt
        may already have been applied (its answer was lost), so a caller can read "already
        exists" answers of the successful attempt as its own earlier write.

        ``template`` is the path template (``"/lists/{list_id}"``); ``path`` fills it.
        With ``idempotent=False`` only failures that prove the request was not
        processed (429, connection refused) are retried.
        """
        url = template.format_map({k: quote(str(v), safe="") for k, v in (path or {}).items()})
        content = (
            None if json_body is None else wire_json.dumps(json_body)
        )
        return await self._call(
            await self._client(),
            method,
            url,
            f"{method} {template}",
            _json,
            params=params,
            content=content,
            context=context,
            idempotent=idempotent,
            meta=meta,
        )

    async def _download(
        self, url: str, endpoint: str, decode: Callable[[bytes], T], *, context: Mapping[str, Any] | None = None
    ) -> T:
        """``GET`` an absolute URL Mailchimp handed out, without credentials, with retries.

        ``decode`` turns the body into the result; a ``ValueError`` from it counts as a malformed
        answer (retried).  ``endpoint`` names the call in metrics and logs (never the URL).
        """
        return await self._call(
            await self._plain_client(), "GET", url, endpoint, decode, context=context
        )

    async def _call(
        self,
        http: httpx.AsyncClient,
        method: str,
        url: str,
        endpoint: str,
        decode: Callable[[bytes], T],
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        context: Mapping[str, Any] | None = None,
        idempotent: bool = True,
        meta: dict[str, Any] | None = None,
    ) -> T:
        query = _query(params)
        headers = {"Content-Type": "application/json"} if content is not None else None
        ctx = self._context(context)
        assert self._sem is not None
        started = time.monotonic()
        deadline = started + self.max_retry_seconds
        ambiguous = False  # an earlier attempt may have been applied by Mailchimp
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            failure: httpx.HTTPError | None = None
            async with self._sem:
                t0 = time.monotonic()
                try:
                    response = await http.request(
                        method, url, params=query, content=content, headers=headers
                    )
                except httpx.HTTPError as exc:
                    failure = exc
                elapsed = time.monotonic() - t0

            retry_after: float | None = None
            if response is not None:
                raw = response.content
                ok = 200 <= response.status_code < 300
                self._record(endpoint, content, raw, elapsed, attempt, response.status_code, error=not ok)
                if ok:
                    if meta is not None:
                        meta["ambiguous"] = ambiguous
                    try:
                        if len(raw) < DECODE_IN_THREAD_BYTES:
                            return decode(raw)
                        # a large answer (a page of members, a batch result) is decoded off the
                        # event loop, which meanwhile sends requests and reads other answers
                        return await asyncio.to_thread(decode, raw)
                    except ValueError:
                        error: MailchimpError = ServerError(
                            status=response.status_code,
                            title="Malformed Response",
                            detail="The response body is not valid JSON.",
                            endpoint=endpoint,
                            context=ctx,
                        )
                        retryable, maybe_applied = idempotent, True
                else:
                    error, retry_after = self._error(response, endpoint, ctx)
                    server_side = response.status_code >= 500
                    retryable = response.status_code == 429 or (server_side and idempotent)
                    maybe_applied = server_side
            else:
                assert failure is not None
                kind = type(failure).__name__
                self._record(endpoint, content, b"", elapsed, attempt, kind, error=True)
                not_sent = isinstance(failure, _NOT_SENT)
                reason = redact_text(str(failure)) or "no details"
                error = TransportError(
                    f"Mailchimp {endpoint} got no answer ({kind}: {reason}). {TransportError.hint}",
                    endpoint=endpoint,
                    context=ctx,
                )
                retryable = isinstance(failure, _RETRYABLE_TRANSPORT) and (idempotent or not_sent)
                maybe_applied = not not_sent
                # Drop the httpx exception: it references the request and its headers.
                failure = None

            error.attempts = attempt
            error.ambiguous = ambiguous
            if retryable and attempt < self.max_attempts:
                delay = self._backoff(attempt)
                if retry_after is not None:
                    delay = max(delay, retry_after)
                if time.monotonic() + delay <= deadline:
                    logger.info(
                        "mailchimp %s: %s; retry %d/%d in %.2fs",
                        endpoint,
                        error.title or error.status or "no answer",
                        attempt,
                        self.max_attempts - 1,
                        delay,
                    )
                    ambiguous = ambiguous or maybe_applied
                    await asyncio.sleep(delay)
                    continue
            if attempt > 1:
                error.message = f"{error.message} (gave up after {attempt} attempts in {time.monotonic() - started:.1f}s)"
                error.args = (error.message,)
            raise error

    def _error(
        self, response: httpx.Response, endpoint: str, ctx: dict[str, Any]
    ) -> tuple[MailchimpError, float | None]:
        """The typed error of a non-2xx answer and its ``Retry-After`` in seconds."""
        try:
            body: Any = json.loads(response.content)
        except ValueError:
            body = response.content.decode("utf-8", "replace")
        retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
        error = error_from_response(
            response.status_code, body, endpoint, context=ctx, retry_after=retry_after
        )
        if type(error) is InvalidApiKey and self._calls_other_dc():
            error = WrongDatacenter(
                status=error.status,
                title=error.title,
                detail=error.detail,
                endpoint=endpoint,
                instance=error.instance,
                context=ctx,
            )
        return error, retry_after

    def _record(
        self,
        endpoint: str,
        sent: bytes | None,
        received: bytes,
        elapsed: float,
        attempt: int,
        status: int | str,
        *,
        error: bool,
    ) -> None:
        self.metrics.record_call(
            endpoint,
            bytes_sent=len(sent or b""),
            bytes_received=len(received),
            seconds=elapsed,
            error=error,
            retry=attempt > 1,
        )
        logger.debug(
            "mailchimp %s -> %s in %.3fs (attempt %d/%d)",
            endpoint,
            status,
            elapsed,
            attempt,
            self.max_attempts,
            extra={
                "mailchimp_endpoint": endpoint,
                "mailchimp_status": status,
                "mailchimp_attempt": attempt,
                "mailchimp_seconds": round(elapsed, 4),
            },
        )

    # ------------------------------------------------------------------ collections

    async def _pages(
        self,
        template: str,
        items_key: str,
        *,
        path: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        page_size: int = PAGE_LIMIT,
        context: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the non-empty pages of a collection, paging by ``offset``/``count``."""
        if not 1 <= page_size <= PAGE_LIMIT:
            raise ValueError(f"page_size must be between 1 and {PAGE_LIMIT}, got {page_size}")
        offset = 0
        while True:
            query = dict(params or {})
            query.update(count=page_size, offset=offset)
            data = await self._request("GET", template, path=path, params=query, context=context)
            items = data.get(items_key) or []
            if items:
                yield items
            offset += len(items)
            total = data.get("total_items")
            if len(items) < page_size or (isinstance(total, int) and offset >= total):
                return

    async def _collect(self, template: str, items_key: str, **kw: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async for page in self._pages(template, items_key, **kw):
            out.extend(page)
        return out
