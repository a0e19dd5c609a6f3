"""The emulator's ASGI application: Mailchimp API routes under ``/{dc}/3.0`` (auth, connection
limit, faults, handler) and the admin routes under ``/_emulator/`` (see ``admin.py``).

The API side is a small raw-ASGI dispatcher (so that a dropped connection really is a closed
socket, and request accounting sees every request); the admin side is a Starlette app.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import logging
import tarfile
import time
from typing import Any
from urllib.parse import parse_qsl

import orjson

from .admin import build_admin
from .errors import (
    DETAIL_DISABLED,
    DETAIL_JSON,
    DETAIL_KEY_INVALID,
    DETAIL_KEY_MISSING,
    DETAIL_METHOD,
    ApiError,
    dumps,
    not_found,
    request_id,
    too_many_connections_detail,
)
from .faults import Faults, FaultSettings, Stats
from .handlers.base import Call, Handler, RawJSON, Result, shape
from .handlers.batches import Batch
from .model import Account, EmulatorState, valid_dc
from .routing import (
    _API_PATH,
    _HTML_5XX,
    JSON_CT,
    PROBLEM_CT,
    WRITE_METHODS,
    _internal_error,
    _parse_auth,
    _read_body,
    _send,
    _send_error,
    drop_connection,
    match,
)
from .webhook_delivery import WebhookDispatcher

log = logging.getLogger(__name__)

#: ``/batches`` operations of one account processed at once. Each operation costs what the same
#: API call costs (``latency_ms + per_member_ms * members``, its work inside that time), so a
#: ``/batches`` job runs no faster than the same calls sent directly over 10 connections: it takes
#: the connection limit off the client, not the work off Mailchimp (no published figure says
#: Mailchimp's batch workers are faster than its API; reports say they are slower).
BATCH_WORKERS = 10


class Emulator:
    """The ASGI application.  ``Emulator(settings, api_keys)``; serve it with uvicorn."""

    def __init__(
        self, settings: FaultSettings | None = None, api_keys: tuple[str, ...] | list[str] = ()
    ) -> None:
        self.state = EmulatorState()
        self.faults = Faults(settings)
        self.stats = Stats()
        for key in api_keys:
            dc = key.rpartition("-")[2]
            if "-" not in key or not valid_dc(dc):
                raise ValueError("--api-key values must look like <key>-<dc>, e.g. ...-us1")
            self.state.preset_keys.append(key)
        self.state.reset()
        self.webhooks = WebhookDispatcher()
        self.admin = build_admin(self)
        self._batch_slots: dict[str, asyncio.Semaphore] = {}  # per account, see run_batch

    # ---- auth ------------------------------------------------------------------------------
    def authenticate(self, header: str | None, dc: str | None) -> Account:
        """The account for an Authorization header (``dc`` = the path's data centre, if any)."""
        parsed = _parse_auth(header)
        if parsed is None or not parsed[1]:
            if parsed is None:
                raise ApiError(401, "API Key Missing", DETAIL_KEY_MISSING)
            raise ApiError(401, "API Key Invalid", DETAIL_KEY_INVALID)
        kind, secret = parsed
        if kind == "key":
            acct = self.state.accounts.get(secret)
            if acct is None or (dc is not None and secret.rpartition("-")[2] != dc):
                raise ApiError(401, "API Key Invalid", DETAIL_KEY_INVALID)
        else:
            acct = self.state.tokens.get(secret)
            if acct is None or (dc is not None and acct.dc != dc):
                raise ApiError(401, "API Key Invalid", DETAIL_KEY_INVALID)
        if acct.disabled:
            raise ApiError(403, "User Disabled", DETAIL_DISABLED)
        return acct

    # ---- ASGI ------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["path"].startswith("/_emulator"):
            await self.admin(scope, receive, send)
            return
        await self.api(scope, receive, send)

    async def shutdown(self) -> None:
        """Cancel background batch jobs and webhook deliveries."""
        for acct in list(self.state.accounts.values()):
            self.cancel_batches(acct)
        await self.webhooks.close()

    def cancel_batches(self, acct: Account) -> None:
        """Stop an account's running ``/batches`` jobs."""
        for batch in acct.batches.values():
            if batch.task is not None and not batch.task.done():
                batch.task.cancel()

    async def api(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Serve one Mailchimp API request: auth, route, connection limit, faults, handler."""
        rid = request_id()
        method = scope["method"]
        m = _API_PATH.match(scope["path"])
        if m is None:
            self.stats.record(f"{method} <unknown>", "404", False)
            await _send_error(send, not_found(), rid)
            return
        dc, rest = m.group(1), m.group(2) or "/"
        found = match(rest)
        template = found[0].template if found else "<unknown>"
        route_key = f"{method} {template}"
        header = None
        host = "127.0.0.1"
        for k, v in scope["headers"]:
            if k == b"authorization":
                header = v.decode("latin-1")
            elif k == b"host":
                host = v.decode("latin-1")
        try:
            acct = self.authenticate(header, dc)
        except ApiError as err:
            self.stats.record(route_key, str(err.status), False)
            await _send_error(send, err, rid)
            return
        stats = acct.stats
        if found is None:
            err = not_found()
        elif method not in found[0].methods:
            err = ApiError(
                405,
                "Method Not Allowed",
                DETAIL_METHOD,
                headers={"Allow": ", ".join(found[0].methods)},
            )
        else:
            err = None
        if err is not None:
            self._record(stats, route_key, str(err.status), False)
            await _send_error(send, err, rid)
            return
        entry, params = found  # type: ignore[misc]
        handler, counter = entry.methods[method]
        acct.in_flight += 1
        try:
            if acct.in_flight > stats.max_concurrency:
                stats.max_concurrency = acct.in_flight
                self.stats.max_concurrency = max(self.stats.max_concurrency, acct.in_flight)
            limit = self.faults.max_connections(acct.key)
            if acct.in_flight > limit:
                stats.faults["limit"] += 1
                self._record(stats, route_key, "429", False)
                await _send_error(
                    send,
                    ApiError(429, "Too Many Requests", too_many_connections_detail(limit)),
                    rid,
                )
                return
            raw = await _read_body(receive)
            body = None
            if raw.strip():
                try:
                    body = _parse_json(raw)
                except (ValueError, UnicodeDecodeError):
                    self._record(stats, route_key, "400", False)
                    await _send_error(send, ApiError(400, "JSON Parse Error", DETAIL_JSON), rid)
                    return
            decision = self.faults.decide(acct.key, counter(body) if counter else 0)
            if decision.kind == "throttle":
                stats.faults["throttle"] += 1
                self._record(stats, route_key, "429", False)
                await _send_error(
                    send,
                    ApiError(429, "Too Many Requests", too_many_connections_detail(limit)),
                    rid,
                )
                return
            # The modelled latency includes the request's own work (as Mailchimp's does): the
            # handler and the encoding of the answer run first, then only what is left of the
            # latency is slept, so concurrent requests do not queue behind each other's CPU work.
            started, arrived = time.monotonic(), time.time()
            if decision.delay and decision.kind in ("error", "drop"):
                await asyncio.sleep(decision.delay)
            if decision.kind == "error":
                stats.faults["error"] += 1
                self._record(stats, route_key, str(decision.error_status), False)
                if decision.error_status == 500:
                    await _send(send, 500, dumps(_internal_error(rid)), PROBLEM_CT, rid)
                else:
                    await _send(
                        send,
                        decision.error_status,
                        _HTML_5XX[decision.error_status],
                        b"text/html",
                        rid,
                    )
                return
            if decision.kind == "drop":
                stats.faults["drop"] += 1
                self._record(stats, route_key, "dropped", False)
                await drop_connection(receive, send)
                return
            query = dict(
                parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            )
            call = Call(
                self,
                acct,
                method,
                params,
                query,
                body,
                f"{scope.get('scheme', 'http')}://{host}",
                self.state.clock.now(),
            )
            try:
                status, payload = await self.run_handler(handler, call)
            except ApiError as exc:
                await _rest_of_latency(started, decision.delay)
                self._record(stats, route_key, str(exc.status), False)
                await _send_error(send, exc, rid)
                return
            except Exception:  # an emulator bug: answer like Mailchimp's 500, log the route only
                log.exception("emulator error in %s", route_key)
                self._record(stats, route_key, "500", False)
                await _send(send, 500, dumps(_internal_error(rid)), PROBLEM_CT, rid)
                return
            write = method in WRITE_METHODS and 200 <= status < 300
            if payload is None:
                out = b""
            elif isinstance(payload, RawJSON):
                out = payload.text.encode("utf-8")
            else:
                out = dumps(shape(payload, query))
            await _rest_of_latency(started, decision.delay)
            if decision.ack_loss:
                stats.faults["ack_loss"] += 1
                self._record(stats, route_key, "dropped", write)
                await drop_connection(receive, send)
                return
            self._record(stats, route_key, str(status), write)
            await _send(send, status, out, JSON_CT, rid)
            stats.time(route_key, arrived, time.time(), counter(body) if counter else 0)
        finally:
            acct.in_flight -= 1

    def _record(self, stats: Stats, route_key: str, status: str, write: bool) -> None:
        stats.record(route_key, status, write)
        self.stats.record(route_key, status, write)

    # ---- internal calls (/batches) ---------------------------------------------------------
    async def run_handler(self, handler: Handler, call: Call) -> Result:
        """Run a handler (sync, or async for the few that call out, e.g. the webhook
        validation GET), then dispatch the webhook events its writes queued (source ``api``)."""
        try:
            result = handler(call)
            if inspect.isawaitable(result):
                result = await result
            return result
        finally:
            self.webhooks.flush(call.acct.lists.values(), "api")

    async def call_internal(
        self,
        acct: Account,
        method: str,
        path: str,
        params: dict[str, Any],
        body_text: str | None,
        base_url: str,
    ) -> tuple[int, Any]:
        """Run one operation of a ``/batches`` job through the same handlers (no faults)."""
        rid = request_id()
        path, _, qs = path.partition("?")
        if path.startswith("/3.0/"):
            path = path[4:]
        if not path.startswith("/"):
            path = "/" + path
        query = dict(parse_qsl(qs, keep_blank_values=True))
        query.update(
            {
                k: str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in (params or {}).items()
            }
        )
        found = match(path)
        try:
            if found is None:
                raise not_found()
            entry, path_params = found
            if method not in entry.methods:
                raise ApiError(
                    405,
                    "Method Not Allowed",
                    DETAIL_METHOD,
                    headers={"Allow": ", ".join(entry.methods)},
                )
            body = None
            if body_text:
                try:
                    body = json.loads(body_text)
                except ValueError:
                    raise ApiError(400, "JSON Parse Error", DETAIL_JSON) from None
            handler, counter = entry.methods[method]
            # the operation costs what the same API call costs (work inside the latency), and an
            # account's operations share BATCH_WORKERS slots (see `run_batch`)
            settings = self.faults.effective(acct.key)
            members = counter(body) if counter else 0
            delay = (settings["latency_ms"] + settings["per_member_ms"] * members) / 1000.0
            started = time.monotonic()
            status, payload = await self.run_handler(
                handler,
                Call(self, acct, method, path_params, query, body, base_url, self.state.clock.now()),
            )
            shaped = shape(payload, query)
            await _rest_of_latency(started, delay)
            return status, shaped
        except ApiError as exc:
            return exc.status, exc.body(rid)
        except Exception:
            log.exception("emulator error in a /batches operation")
            return 500, _internal_error(rid)

    async def run_batch(self, acct: Account, batch: Batch, base_url: str) -> None:
        """Process a ``/batches`` job: pending → started → finalizing → finished."""
        await asyncio.sleep(0.05)
        if acct.batches.get(batch.id) is not batch:
            return
        batch.status = "started"
        slots = self._batch_slots.setdefault(acct.key, asyncio.Semaphore(BATCH_WORKERS))
        results: list[dict[str, Any] | None] = [None] * len(batch.ops)

        async def run_op(i: int, op: dict[str, Any]) -> None:
            async with slots:
                if acct.batches.get(batch.id) is not batch:
                    return
                status, payload = await self.call_internal(
                    acct, op["method"], op["path"], op.get("params") or {}, op.get("body"), base_url
                )
            results[i] = {
                "status_code": status,
                "operation_id": op.get("operation_id"),
                "response": _as_text(payload),
            }
            batch.finished += 1
            acct.stats.batch_operations += 1
            self.stats.batch_operations += 1
            if status >= 400:
                batch.errored += 1

        # operations start in order; at most BATCH_WORKERS of the account's run at once
        await asyncio.gather(*(run_op(i, op) for i, op in enumerate(batch.ops)))
        if acct.batches.get(batch.id) is not batch:
            return
        batch.status = "finalizing"
        buf = io.BytesIO()
        data = json.dumps(results).encode("utf-8")
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            info = tarfile.TarInfo(f"{batch.id}/{batch.id}.json")
            info.size = len(data)
            info.mtime = self.state.clock.now()
            tar.addfile(info, io.BytesIO(data))
        batch.archive = buf.getvalue()
        batch.url = f"{base_url}/_emulator/batch-results/{batch.token}.tar.gz"
        batch.completed = self.state.clock.now()
        batch.status = "finished"

    def find_batch_archive(self, token: str) -> bytes | None:
        """The result archive for a batch token (any account)."""
        for acct in self.state.accounts.values():
            for batch in acct.batches.values():
                if batch.token == token and batch.archive is not None:
                    return batch.archive
        return None


async def _rest_of_latency(started: float, delay: float) -> None:
    """Sleep what is left of a request's modelled latency after its work (started → now)."""
    remaining = delay - (time.monotonic() - started)
    if remaining > 0:
        await asyncio.sleep(remaining)


def _as_text(payload: Any) -> str:
    if payload is None:
        return ""
    if isinstance(payload, RawJSON):
        return payload.text
    return json.dumps(payload, ensure_ascii=False)


def create_app(
    settings: FaultSettings | None = None, api_keys: tuple[str, ...] | list[str] = ()
) -> Emulator:
    """Build the emulator ASGI app."""
    return Emulator(settings, api_keys)




def _parse_json(raw: bytes) -> Any:
    """A request's JSON body: orjson (the 500-member bodies of a bulk load are most of the
    emulator's work), the standard library for what only it accepts (lone surrogates, integers
    beyond 64 bits), so a body is accepted or refused exactly as before."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
