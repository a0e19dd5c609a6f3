"""Async Mailchimp Marketing API client on httpx: bulk, bounded, retrying, typed.

One :class:`MailchimpClient` per API key per run.  All its calls share

* one ``httpx.AsyncClient`` (connection pool of ``max_connections``) and one
  ``asyncio.Semaphore(max_connections)`` held around every HTTP attempt, so the
  calls of a run never have more than ``max_connections`` (≤ 10, Mailchimp's
  per-key limit) requests in flight;
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
* counters (:class:`~mc_pipelines.mailchimp.metrics.CallMetrics`) per endpoint
  template, and DEBUG log lines on ``mc_pipelines.mailchimp`` per attempt with
  method, endpoint template, status, duration and attempt — never a key, an
  ``Authorization`` header or a URL with ids.

Idempotency.  Retrying a write after a dropped connection re-sends it although
Mailchimp may already have applied it, so every write the sync uses is one
that is safe to repeat: batch subscribe (``POST /lists/{id}`` — the same members
with the same fields end in the same state; ``update_existing=false`` re-sends
report existing members as ``ERROR_CONTACT_EXISTS`` rows, never duplicates — so
after a lost acknowledgement members the first attempt created come back as
such rows), upsert by subscriber hash
(``PUT .../members/{hash}``), tag updates (set active/inactive), static segment
add/remove (set membership).  Archive and permanent delete are made so: a 405
resp. 404 after an ambiguous earlier attempt counts as done.  The one
non-idempotent write, creating a segment, is never blindly retried:
:meth:`MailchimpClient.ensure_static_segment` looks the name up again first.

The sync facade :func:`run_sync` runs a coroutine from synchronous code (the CLI).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import functools
import hashlib
import json
import logging
import os
import random
import re
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from .errors import (
    ACCOUNT_LEVEL_ERRORS,
    InvalidApiKey,
    MailchimpError,
    MethodNotAllowed,
    ResourceNotFound,
    ServerError,
    TransportError,
    WrongDatacenter,
    error_from_response,
)
from .keys import DEFAULT_OAUTH_METADATA_URL, ApiKey, adc_from_oauth_metadata, parse_api_key
from .keys import InvalidApiKeyFormat as _InvalidApiKeyFormat
from .metrics import CallMetrics
from .redact import install_redaction_filter, mask, redact_text, register_secret
from .settings import mailchimp_base_url

__all__ = [
    "BATCH_LIMIT",
    "MAX_CONNECTIONS_LIMIT",
    "PAGE_LIMIT",
    "BatchSubscribeResult",
    "MailchimpClient",
    "RowError",
    "SegmentMembersResult",
    "gather_limited",
    "run_sync",
    "subscriber_hash",
]

logger = logging.getLogger("mc_pipelines.mailchimp")

T = TypeVar("T")

#: Mailchimp's limits.
MAX_CONNECTIONS_LIMIT = 10  # simultaneous connections per API key
BATCH_LIMIT = 500  # members per batch subscribe, emails per segment add/remove
PAGE_LIMIT = 1000  # `count` maximum on collection GETs

OAUTH_METADATA_ENV = "MC_MAILCHIMP_OAUTH_METADATA_URL"

# Transport failures worth retrying, and those that prove the request was never sent.
_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 hex digest of the lower-cased, trimmed email address."""
    return hashlib.md5(email.strip().lower().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RowError:
    """One email that a bulk call could not apply.

    ``code`` is Mailchimp's ``error_code`` (``ERROR_CONTACT_EXISTS``, ``ERROR_GENERIC``…)
    or ``"request_failed"`` when the whole request for this email's chunk failed
    (after retries); ``message`` says why; ``field`` names the offending field if known.
    """

    email: str
    code: str
    message: str
    field: str | None = None


@dataclass
class BatchSubscribeResult:
    created: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # lower-cased emails of chunks whose accepted attempt followed one that may have been applied
    ambiguous: set[str] = field(default_factory=set)

    @property
    def total_created(self) -> int:
        return len(self.created)

    @property
    def total_updated(self) -> int:
        return len(self.updated)

    @property
    def error_count(self) -> int:
        return len(self.errors)


@dataclass
class SegmentMembersResult:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


async def gather_limited(factories: Iterable[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Await the coroutines made by ``factories`` with at most ``limit`` running at once.

    Results come back in input order.  The first exception cancels the rest and is raised.
    """
    items = list(factories)
    results: list[Any] = [None] * len(items)
    queue = iter(enumerate(items))

    async def worker() -> None:
        for index, factory in queue:  # the shared iterator hands each item to one worker
            results[index] = await factory()

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(limit, len(items))))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return results


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code and return its result.

    Uses ``asyncio.run`` when this thread has no running event loop; when it has
    one (a notebook, an async framework) the coroutine runs on a fresh loop in a
    worker thread instead.  Loops running in other threads are unaffected.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="mailchimp-sync"
    ) as pool:
        return pool.submit(asyncio.run, coro).result()


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


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


def _member_query(
    since_last_changed: datetime | None, status: str | None, fields: str | None
) -> dict[str, Any]:
    """Query of the member listings: sorted by ``last_changed`` ascending, filtered, trimmed."""
    params: dict[str, Any] = {
        "sort_field": "last_changed",
        "sort_dir": "ASC",
        "since_last_changed": since_last_changed,
        "status": status,
    }
    if fields:
        params["fields"] = fields
    else:
        params["exclude_fields"] = "members._links,_links"
    return params


def _member_hash(email_or_hash: str) -> str:
    return email_or_hash if _HEX32.match(email_or_hash) else subscriber_hash(email_or_hash)


class MailchimpClient:
    """Async client for one Mailchimp account (API key or OAuth token).

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
                raise _InvalidApiKeyFormat(
                    "Mailchimp OAuth token is empty: reconnect the Mailchimp account"
                )
            register_secret(token, basic_auth_user=None)
            try:
                self._key = parse_api_key(token)
            except _InvalidApiKeyFormat:
                self._key = None  # dc comes from the metadata endpoint
            self._secret = token
        else:
            self._key = parse_api_key(api_key)
            self._secret = self._key.secret
        register_secret(self._secret, basic_auth_user=None if oauth else "anystring")

        self.base_url_template = base_url_template or mailchimp_base_url()
        self.oauth_metadata_url = (
            oauth_metadata_url or os.environ.get(OAUTH_METADATA_ENV) or DEFAULT_OAUTH_METADATA_URL
        )
        self.max_connections = max_connections
        self.timeout = float(timeout)
        self.max_attempts = int(max_attempts)
        self.max_retry_seconds = float(max_retry_seconds)
        self.backoff_base = float(backoff_base)
        self.backoff_cap = float(backoff_cap)
        self.metrics = metrics if metrics is not None else CallMetrics()
        self.user_agent = user_agent

        self._http: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resolving: asyncio.Future[ApiKey] | None = None

    # ------------------------------------------------------------------ plumbing

    @property
    def key(self) -> ApiKey | None:
        """The parsed credential (``None`` until an OAuth token's data centre is known)."""
        return self._key

    @property
    def key_label(self) -> str:
        return self._key.label if self._key else mask(self._secret)

    @property
    def base_url(self) -> str | None:
        return self.base_url_template.replace("{dc}", self._key.dc) if self._key else None

    def __repr__(self) -> str:
        return f"MailchimpClient({self.key_label}, base_url={self.base_url_template!r})"

    async def __aenter__(self) -> MailchimpClient:
        await self._client()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        http, self._http = self._http, None
        loop, self._loop = self._loop, None
        self._sem = None
        if http is not None and loop is asyncio.get_running_loop():
            await http.aclose()

    async def _resolve_key(self) -> ApiKey:
        dc = await adc_from_oauth_metadata(
            self._secret, self.oauth_metadata_url, timeout=min(self.timeout, 30.0)
        )
        return ApiKey(secret=self._secret, dc=dc)

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
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 15.0)),
            limits=httpx.Limits(
                max_connections=self.max_connections,
                max_keepalive_connections=self.max_connections,
            ),
            follow_redirects=False,
        )
        self._sem = asyncio.Semaphore(self.max_connections)
        self._loop = loop
        return self._http

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
        endpoint = f"{method} {template}"
        url = template.format_map({k: quote(str(v), safe="") for k, v in (path or {}).items()})
        query = _query(params)
        content = (
            None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        )
        headers = {"Content-Type": "application/json"} if content is not None else None
        ctx = self._context(context)
        http = await self._client()
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
                status: int | str = response.status_code
                raw = response.content
                ok = 200 <= response.status_code < 300
                self._record(endpoint, content, raw, elapsed, attempt, status, error=not ok)
                if ok:
                    if meta is not None:
                        meta["ambiguous"] = ambiguous
                    try:
                        return json.loads(raw) if raw.strip() else {}
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
                    try:
                        body: Any = json.loads(raw)
                    except ValueError:
                        body = raw.decode("utf-8", "replace")
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

    # ------------------------------------------------------------------ account

    async def ping(self) -> dict[str, Any]:
        """``GET /ping`` → ``{"health_status": "Everything's Chimpy!"}``; raises on a bad key."""
        return await self._request("GET", "/ping")

    async def get_account(self) -> dict[str, Any]:
        """``GET /`` — account id, name, contact, plan."""
        return await self._request("GET", "/")

    # ------------------------------------------------------------------ audiences

    async def get_audience(self, list_id: str) -> dict[str, Any]:
        """``GET /lists/{list_id}``; :class:`AudienceNotFound` names the id when it does not exist."""
        return await self._request(
            "GET", "/lists/{list_id}", path={"list_id": list_id}, context={"list_id": list_id}
        )

    async def list_audiences(self) -> list[dict[str, Any]]:
        """All audiences of the account (paged)."""
        return await self._collect("/lists", "lists")

    async def list_merge_fields(self, list_id: str) -> list[dict[str, Any]]:
        """All merge fields of an audience (paged)."""
        return await self._collect(
            "/lists/{list_id}/merge-fields",
            "merge_fields",
            path={"list_id": list_id},
            context={"list_id": list_id},
        )

    # ------------------------------------------------------------------ members

    async def iter_members(
        self,
        list_id: str,
        *,
        since_last_changed: datetime | None = None,
        status: str | None = None,
        page_size: int = PAGE_LIMIT,
        fields: str | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield pages of members sorted by ``last_changed`` ascending, paged by offset.

        ``since_last_changed`` (naive = UTC) restricts to members changed after it;
        ``status`` filters by status; ``fields`` is Mailchimp's field selector (e.g.
        ``"members.email_address,members.status,members.last_changed,total_items"``).
        Offset paging over a changing audience can skip a member: when one already
        read changes (or is archived) during the scan it leaves its place, every later
        member moves up one, and the member at the page boundary is never returned —
        and it may be older than any cursor.  Incremental pulls should therefore page
        by key with :meth:`get_members_page` (see ``mc_pipelines.effects.pull``).
        """
        async for page in self._pages(
            "/lists/{list_id}/members",
            "members",
            path={"list_id": list_id},
            params=_member_query(since_last_changed, status, fields),
            page_size=page_size,
            context={"list_id": list_id},
        ):
            yield page

    async def get_members_page(
        self,
        list_id: str,
        *,
        since_last_changed: datetime | None = None,
        offset: int = 0,
        count: int = PAGE_LIMIT,
        status: str | None = None,
        fields: str | None = None,
    ) -> dict[str, Any]:
        """One page of members sorted by ``last_changed`` ascending (the raw response).

        Same filters as :meth:`iter_members`; for callers that page by key
        (``since_last_changed`` advanced to the last value seen, ``offset`` only within
        the members sharing that second) instead of by a growing offset.
        """
        if not 1 <= count <= PAGE_LIMIT:
            raise ValueError(f"count must be between 1 and {PAGE_LIMIT}, got {count}")
        if offset < 0:
            raise ValueError(f"offset must not be negative, got {offset}")
        return await self._request(
            "GET",
            "/lists/{list_id}/members",
            path={"list_id": list_id},
            params={**_member_query(since_last_changed, status, fields), "count": count, "offset": offset},
            context={"list_id": list_id},
        )

    async def get_member(self, list_id: str, email_or_hash: str) -> dict[str, Any]:
        """``GET /lists/{list_id}/members/{subscriber_hash}`` (an email or its hash)."""
        return await self._request(
            "GET",
            "/lists/{list_id}/members/{subscriber_hash}",
            path={"list_id": list_id, "subscriber_hash": _member_hash(email_or_hash)},
            context={"list_id": list_id, "email": email_or_hash},
        )

    async def upsert_member(
        self,
        list_id: str,
        email: str,
        body: Mapping[str, Any],
        *,
        skip_merge_validation: bool = False,
    ) -> dict[str, Any]:
        """``PUT /lists/{list_id}/members/{hash}`` — add or update; idempotent, safe to retry.

        Send ``status_if_new`` to leave an existing member's status alone; ``status``
        changes it (subject to Mailchimp's compliance rules).
        """
        payload = dict(body)
        payload.setdefault("email_address", email)
        return await self._request(
            "PUT",
            "/lists/{list_id}/members/{subscriber_hash}",
            path={"list_id": list_id, "subscriber_hash": subscriber_hash(email)},
            params={"skip_merge_validation": True} if skip_merge_validation else None,
            json_body=payload,
            context={"list_id": list_id, "email": email},
        )

    async def add_member(
        self, list_id: str, body: Mapping[str, Any], *, skip_merge_validation: bool = False
    ) -> dict[str, Any]:
        """``POST /lists/{list_id}/members`` — add a new member; :class:`MemberExists` if present.

        Not idempotent (a repeat raises MemberExists), so the sync uses
        :meth:`upsert_member` instead; this is for tools and tests.
        """
        email = str(body.get("email_address", ""))
        return await self._request(
            "POST",
            "/lists/{list_id}/members",
            path={"list_id": list_id},
            params={"skip_merge_validation": True} if skip_merge_validation else None,
            json_body=dict(body),
            context={"list_id": list_id, "email": email},
            idempotent=False,
        )

    async def update_member_tags(
        self, list_id: str, email: str, tags: Mapping[str, bool], *, is_syncing: bool = False
    ) -> None:
        """Set tags active (True) or inactive (False) on one member; idempotent."""
        await self._request(
            "POST",
            "/lists/{list_id}/members/{subscriber_hash}/tags",
            path={"list_id": list_id, "subscriber_hash": subscriber_hash(email)},
            json_body={
                "tags": [
                    {"name": name, "status": "active" if on else "inactive"}
                    for name, on in tags.items()
                ],
                "is_syncing": is_syncing,
            },
            context={"list_id": list_id, "email": email},
        )

    async def archive_member(self, list_id: str, email: str) -> None:
        """``DELETE /lists/{list_id}/members/{hash}`` (archive).

        A 405 after an earlier attempt that may have gone through counts as done
        (the member is archived), which makes the retry safe.
        """
        try:
            await self._request(
                "DELETE",
                "/lists/{list_id}/members/{subscriber_hash}",
                path={"list_id": list_id, "subscriber_hash": subscriber_hash(email)},
                context={"list_id": list_id, "email": email},
            )
        except MethodNotAllowed as err:
            if not err.ambiguous:
                raise

    async def delete_member_permanent(self, list_id: str, email: str) -> None:
        """``POST .../members/{hash}/actions/delete-permanent`` — irreversible (GDPR erase).

        A 404 after an earlier attempt that may have gone through counts as done.
        """
        try:
            await self._request(
                "POST",
                "/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent",
                path={"list_id": list_id, "subscriber_hash": subscriber_hash(email)},
                context={"list_id": list_id, "email": email},
            )
        except ResourceNotFound as err:
            if not err.ambiguous:
                raise

    async def batch_subscribe(
        self,
        list_id: str,
        members: Sequence[Mapping[str, Any]],
        *,
        update_existing: bool,
        sync_tags: bool = False,
        chunk_size: int = BATCH_LIMIT,
        skip_merge_validation: bool = False,
    ) -> BatchSubscribeResult:
        """Batch subscribe/update (``POST /lists/{list_id}``) in chunks of ≤ 500, sent concurrently.

        Returns per-email outcomes: ``created`` and ``updated`` member dicts and one
        :class:`RowError` per failed email.  A chunk whose request fails after
        retries (5xx, 429, transport, a 4xx for the whole request) becomes a
        ``RowError(code="request_failed")`` for each of its emails; account-level
        failures (invalid key, disabled account, unknown audience) raise instead.

        Safe to retry: re-sending a batch leaves members in the same state.  With
        ``update_existing=True`` the batch *changes* existing members' status — send
        it only for members whose status you mean to set.
        """
        if not 1 <= chunk_size <= BATCH_LIMIT:
            raise ValueError(f"chunk_size must be between 1 and {BATCH_LIMIT}, got {chunk_size}")
        params = {"skip_merge_validation": True} if skip_merge_validation else None

        async def send(chunk: Sequence[Mapping[str, Any]]) -> BatchSubscribeResult:
            meta: dict[str, Any] = {}
            try:
                data = await self._request(
                    "POST",
                    "/lists/{list_id}",
                    path={"list_id": list_id},
                    params=params,
                    json_body={
                        "members": list(chunk),
                        "update_existing": update_existing,
                        "sync_tags": sync_tags,
                    },
                    context={"list_id": list_id},
                    meta=meta,
                )
            except ACCOUNT_LEVEL_ERRORS:
                raise
            except MailchimpError as err:
                return BatchSubscribeResult(
                    errors=[
                        RowError(str(m.get("email_address", "")), "request_failed", str(err))
                        for m in chunk
                    ]
                )
            errors = []
            for item in data.get("errors") or []:
                message = str(item.get("error") or "")
                fld = item.get("field") or None
                if fld and item.get("field_message"):
                    message = f"{message} ({fld}: {item['field_message']})"
                errors.append(
                    RowError(
                        str(item.get("email_address") or ""),
                        str(item.get("error_code") or "ERROR_GENERIC"),
                        message,
                        fld,
                    )
                )
            return BatchSubscribeResult(
                created=list(data.get("new_members") or []),
                updated=list(data.get("updated_members") or []),
                errors=errors,
                ambiguous={str(m.get("email_address", "")).lower() for m in chunk}
                if meta.get("ambiguous") else set(),
            )

        parts = await gather_limited(
            [functools.partial(send, c) for c in _chunks(members, chunk_size)], self.max_connections
        )
        result = BatchSubscribeResult()
        for part in parts:
            result.created.extend(part.created)
            result.updated.extend(part.updated)
            result.errors.extend(part.errors)
            result.ambiguous |= part.ambiguous
        return result

    # ------------------------------------------------------------------ segments (tags)

    async def list_segments(self, list_id: str, *, type: str | None = None) -> list[dict[str, Any]]:
        """All segments of an audience (paged); ``type`` ∈ ``saved``, ``static``, ``fuzzy``."""
        return await self._collect(
            "/lists/{list_id}/segments",
            "segments",
            path={"list_id": list_id},
            params={"type": type},
            context={"list_id": list_id},
        )

    async def ensure_static_segment(self, list_id: str, name: str) -> int:
        """The id of the static segment (tag) called ``name``, created if missing.

        An exact name match wins; failing that, a match ignoring case (Mailchimp
        treats tag names case-insensitively and would refuse the duplicate).

        Creating is not idempotent, so a create that may have gone through (dropped
        connection, 5xx) is followed by a fresh lookup before trying again.
        """
        for round_ in range(1, self.max_attempts + 1):
            segments = await self.list_segments(list_id, type="static")
            exact = [seg for seg in segments if seg.get("name") == name]
            # Mailchimp treats tag names case-insensitively: reuse "vip" for "VIP".
            folded = name.casefold()
            similar = [seg for seg in segments if str(seg.get("name", "")).casefold() == folded]
            if exact or similar:
                return int((exact or similar)[0]["id"])
            try:
                created = await self._request(
                    "POST",
                    "/lists/{list_id}/segments",
                    path={"list_id": list_id},
                    json_body={"name": name, "static_segment": []},
                    context={"list_id": list_id},
                    idempotent=False,
                )
                return int(created["id"])
            except MailchimpError as err:
                maybe_created = isinstance(err, (TransportError, ServerError))
                if not maybe_created or round_ == self.max_attempts:
                    raise
                await asyncio.sleep(self._backoff(round_))
        raise AssertionError("unreachable")

    async def update_segment_members(
        self,
        list_id: str,
        segment_id: int | str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        chunk_size: int = BATCH_LIMIT,
    ) -> SegmentMembersResult:
        """Add/remove emails to/from a static segment (``POST /lists/{id}/segments/{segment_id}``).

        Adds and removes go in separate calls of ≤ 500 emails, sent concurrently.
        Returns the emails Mailchimp reports added/removed and a :class:`RowError`
        per email it refused; a call failing after retries yields
        ``RowError(code="request_failed")`` for each of its emails.  An unknown
        audience or segment and account-level failures raise.  Idempotent: emails
        already in (or already out of) the segment are simply not reported, so
        after a retried call whose first attempt was applied, "not in ``errors``"
        is what means "done".
        """
        if not 1 <= chunk_size <= BATCH_LIMIT:
            raise ValueError(f"chunk_size must be between 1 and {BATCH_LIMIT}, got {chunk_size}")
        ctx = {"list_id": list_id, "segment_id": segment_id}

        async def send(key: str, chunk: Sequence[str]) -> SegmentMembersResult:
            try:
                data = await self._request(
                    "POST",
                    "/lists/{list_id}/segments/{segment_id}",
                    path={"list_id": list_id, "segment_id": segment_id},
                    json_body={key: list(chunk)},
                    context=ctx,
                )
            except (*ACCOUNT_LEVEL_ERRORS, ResourceNotFound):
                raise
            except MailchimpError as err:
                return SegmentMembersResult(
                    errors=[RowError(e, "request_failed", str(err)) for e in chunk]
                )
            errors = [
                RowError(
                    str(email_),
                    str(item.get("error_code") or "ERROR_GENERIC"),
                    str(item.get("error") or ""),
                )
                for item in data.get("errors") or []
                for email_ in item.get("email_addresses") or []
            ]
            return SegmentMembersResult(
                added=[m.get("email_address", "") for m in data.get("members_added") or []],
                removed=[m.get("email_address", "") for m in data.get("members_removed") or []],
                errors=errors,
            )

        jobs = [functools.partial(send, "members_to_add", c) for c in _chunks(add, chunk_size)]
        jobs += [
            functools.partial(send, "members_to_remove", c) for c in _chunks(remove, chunk_size)
        ]
        result = SegmentMembersResult()
        for part in await gather_limited(jobs, self.max_connections):
            result.added.extend(part.added)
            result.removed.extend(part.removed)
            result.errors.extend(part.errors)
        return result

    # ------------------------------------------------------------------ campaigns and reports

    async def list_campaigns(self, **params: Any) -> list[dict[str, Any]]:
        """All campaigns matching ``params`` (``status``, ``list_id``, ``since_send_time``…; paged)."""
        params.pop("count", None)
        params.pop("offset", None)
        return await self._collect("/campaigns", "campaigns", params=params)

    async def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        return await self._request(
            "GET",
            "/campaigns/{campaign_id}",
            path={"campaign_id": campaign_id},
            context={"campaign_id": campaign_id},
        )

    async def get_campaign_report(self, campaign_id: str) -> dict[str, Any]:
        return await self._request(
            "GET",
            "/reports/{campaign_id}",
            path={"campaign_id": campaign_id},
            context={"campaign_id": campaign_id},
        )
