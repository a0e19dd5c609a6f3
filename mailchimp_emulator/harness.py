"""Start the emulator for tests, the demo and benchmarks, and drive its admin routes.

Everything goes over real HTTP (httpx), so it works the same whether the server runs in a
background thread (``mode="thread"``, the default) or in a subprocess (``mode="process"``, so a
benchmark's client and the emulator do not share a GIL)::

    with EmulatorServer() as emu:
        acct = emu.create_account("Acme")
        list_id = emu.create_list(acct["api_key"])
        base = emu.base_url_template          # "http://127.0.0.1:PORT/{dc}/3.0"
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import httpx
import uvicorn

from .admin import DEFAULT_LIST_SETTINGS
from .app import create_app
from .emails import subscriber_hash
from .faults import FaultSettings


class EmulatorError(RuntimeError):
    """An admin call failed (the emulator's problem document is in the message)."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _member_ref(subscriber_hash_or_email: str) -> str:
    return (
        subscriber_hash(subscriber_hash_or_email)
        if "@" in subscriber_hash_or_email
        else subscriber_hash_or_email
    )


class EmulatorServer:
    """The emulator on ``127.0.0.1`` and a free port, as a context manager.

    Fault kwargs (``latency_ms``, ``per_member_ms``, ``error_rate``, ``throttle_rate``,
    ``drop_rate``, ``ack_loss_rate``, ``seed``, ``max_connections``) are the start-up (global)
    settings; :meth:`set_faults` changes them later, globally or for one account."""

    def __init__(
        self,
        mode: str = "thread",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        per_member_ms: float = 0.0,
        error_rate: float = 0.0,
        throttle_rate: float = 0.0,
        drop_rate: float = 0.0,
        ack_loss_rate: float = 0.0,
        seed: int | None = None,
        max_connections: int = 10,
        api_keys: Iterable[str] = (),
        log_level: str = "warning",
        access_log: bool = False,
        startup_timeout: float = 30.0,
    ) -> None:
        if mode not in ("thread", "process"):
            raise ValueError("mode must be 'thread' or 'process'")
        self.mode = mode
        self.host = host
        self.settings = FaultSettings(
            latency_ms=latency_ms,
            per_member_ms=per_member_ms,
            error_rate=error_rate,
            throttle_rate=throttle_rate,
            drop_rate=drop_rate,
            ack_loss_rate=ack_loss_rate,
            seed=seed,
            max_connections=max_connections,
        )
        self.api_keys = tuple(api_keys)
        self.log_level = log_level
        self.access_log = access_log
        self.startup_timeout = startup_timeout
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._http: httpx.Client | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> EmulatorServer:
        """Start serving and wait until the server accepts requests."""
        if self._http is not None:
            return self
        if self.mode == "thread":
            self._start_thread()
        else:
            self._start_process()
        self._http = httpx.Client(timeout=httpx.Timeout(120.0, connect=10.0))
        self._wait_ready()
        return self

    def _start_thread(self) -> None:
        app = create_app(self.settings, self.api_keys)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level=self.log_level, access_log=self.access_log, lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name="mailchimp-emulator",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise EmulatorError("the emulator thread did not start")
            time.sleep(0.01)

    def _start_process(self) -> None:
        if not self.port:
            self.port = _free_port(self.host)
        s = self.settings
        cmd = [
            sys.executable, "-m", "mailchimp_emulator",
            "--host", self.host, "--port", str(self.port),
            "--log-level", self.log_level,
            "--latency-ms", str(s.latency_ms), "--per-member-ms", str(s.per_member_ms),
            "--error-rate", str(s.error_rate), "--throttle-rate", str(s.throttle_rate),
            "--drop-rate", str(s.drop_rate), "--ack-loss-rate", str(s.ack_loss_rate),
            "--max-connections", str(s.max_connections),
        ]  # fmt: skip
        if not self.access_log:
            cmd.append("--no-access-log")
        if s.seed is not None:
            cmd += ["--seed", str(s.seed)]
        if s.shuffle_same_second:
            cmd.append("--shuffle-same-second")
        for key in self.api_keys:
            cmd += ["--api-key", key]
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def _wait_ready(self) -> None:
        assert self._http is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                if self._http.get(f"{self.admin_url}/health", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self._process is not None and self._process.poll() is not None:
                raise EmulatorError(f"the emulator process exited: {self.process_output()[-2000:]}")
            if time.monotonic() > deadline:
                self.close()
                raise EmulatorError("the emulator did not become ready in time")
            time.sleep(0.05)

    def process_output(self) -> str:
        """What the emulator subprocess printed so far (``mode="process"`` only)."""
        if self._log is None:
            return ""
        fd = self._log.fileno()  # pread: never move the offset the child writes at
        return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")

    def close(self) -> None:
        """Stop the server (idempotent)."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None
            self._thread = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- addresses -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url_template(self) -> str:
        """``http://127.0.0.1:PORT/{dc}/3.0`` (``{dc}`` left for the client to fill)."""
        return self.base_url + "/{dc}/3.0"

    @property
    def admin_url(self) -> str:
        """``http://127.0.0.1:PORT/_emulator``."""
        return f"{self.base_url}/_emulator"

    @property
    def oauth_metadata_url(self) -> str:
        """Where a client should look up OAuth metadata instead of login.mailchimp.com."""
        return f"{self.admin_url}/oauth2/metadata"

    def api_url(self, dc: str = "us1") -> str:
        """The API root for a data centre."""
        return self.base_url_template.format(dc=dc)

    # ---- HTTP ------------------------------------------------------------------------------
    @property
    def http(self) -> httpx.Client:
        """The harness's own httpx client."""
        if self._http is None:
            raise EmulatorError("the emulator is not running (use it as a context manager)")
        return self._http

    def _admin(
        self,
        method: str,
        path: str,
        api_key: str | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        auth = ("harness", api_key) if api_key else None
        resp = self.http.request(
            method,
            f"{self.admin_url}{path}",
            json=json_body,
            content=content,
            auth=auth,
            params=params,
        )
        if resp.status_code >= 400:
            raise EmulatorError(
                f"{method} /_emulator{path} → {resp.status_code}: {resp.text[:500]}"
            )
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    # ---- accounts and audiences ------------------------------------------------------------
    def create_account(self, account_name: str = "Test", dc: str = "us1") -> dict[str, str]:
        """A new account → ``{"api_key", "dc", "account_name"}``."""
        return self._admin("POST", "/accounts", json_body={"account_name": account_name, "dc": dc})

    def create_list(self, api_key: str, name: str = "Audience", **settings: Any) -> str:
        """Create an audience through the real ``POST /lists`` API; returns its id.  Retries
        injected 429/5xx/dropped connections (none of them creates the list)."""
        dc = api_key.rpartition("-")[2]
        body = {**DEFAULT_LIST_SETTINGS, "name": name, **settings}
        last: Exception | None = None
        for attempt in range(8):
            try:
                resp = self.http.post(
                    f"{self.api_url(dc)}/lists", json=body, auth=("harness", api_key)
                )
            except httpx.TransportError as exc:
                last = exc
            else:
                if resp.status_code == 200:
                    return resp.json()["id"]
                if resp.status_code != 429 and resp.status_code < 500:
                    raise EmulatorError(f"POST /lists → {resp.status_code}: {resp.text[:500]}")
                last = EmulatorError(f"POST /lists → {resp.status_code}")
            time.sleep(0.05 * (attempt + 1))
        raise EmulatorError(f"POST /lists kept failing: {last}")

    def delete_list(self, api_key: str, list_id: str) -> None:
        """Delete an audience (admin route, no faults)."""
        self._admin("DELETE", f"/lists/{list_id}", api_key)

    def disable_account(self, api_key: str) -> None:
        """API calls with this key now get 403 User Disabled."""
        self._admin("POST", "/account/disable", api_key)

    def enable_account(self, api_key: str) -> None:
        """Undo :meth:`disable_account`."""
        self._admin("POST", "/account/enable", api_key)

    def revoke_key(self, api_key: str) -> None:
        """The key stops working (401 API Key Invalid)."""
        self._admin("POST", "/account/revoke", api_key)

    # ---- faults, stats, reset, clock -------------------------------------------------------
    def set_faults(
        self, api_key: str | None = None, clear: bool = False, **settings: Any
    ) -> dict[str, Any]:
        """Change fault settings: globally (no ``api_key``) or for one account (overlaying the
        global ones).  ``clear=True`` first resets that scope.  Returns the effective settings."""
        return self._admin("POST", "/faults", api_key, json_body={**settings, "clear": clear})

    def get_faults(self, api_key: str | None = None) -> dict[str, Any]:
        """Effective fault settings (global, or for an account)."""
        return self._admin("GET", "/faults", api_key)

    def stats(self, api_key: str | None = None) -> dict[str, Any]:
        """``{"requests": {"<METHOD> <template>": {"<status>": n}}, "writes", "max_concurrency",
        "faults", "batch_operations"}`` for an account (or the whole emulator)."""
        return self._admin("GET", "/stats", api_key)

    def reset(self, api_key: str | None = None) -> None:
        """Forget everything (or one account's audiences, campaigns, stats and faults)."""
        self._admin("POST", "/reset", api_key)

    def advance_clock(self, seconds: int) -> str:
        """Move the emulator clock forward (``last_changed`` etc.); returns the new time."""
        return self._admin("POST", "/clock", json_body={"advance_seconds": seconds})["now"]

    def now(self) -> str:
        """The emulator clock, ISO 8601."""
        return self._admin("GET", "/clock")["now"]

    # ---- Mailchimp-side events -------------------------------------------------------------
    def member_event(
        self, api_key: str, list_id: str, subscriber_hash: str, type: str, **fields: Any
    ) -> dict[str, Any]:
        """What a person or marketer does in Mailchimp (not via the API): ``unsubscribe`` (the
        contact; ``reason=``), ``subscribe`` (the contact signs up again on a form; with an
        email for a non-member: a new signup), ``confirm`` (double opt-in click), ``profile``
        (the contact's profile page: ``email_address=``, ``merge_fields=``),
        ``admin_unsubscribe`` / ``archive`` (a marketer), ``cleaned`` (a bounce),
        ``compliance_review``.  ``subscriber_hash`` may be the email.  Returns the member."""
        ref = _member_ref(subscriber_hash)
        if type == "subscribe" and "@" in subscriber_hash:
            fields.setdefault("email_address", subscriber_hash)
        return self._admin(
            "POST",
            f"/lists/{list_id}/members/{ref}/events",
            api_key,
            json_body={**fields, "type": type},
        )

    def webhook_deliveries(self, api_key: str, list_id: str) -> list[dict[str, Any]]:
        """Webhook deliveries made for an audience: ``webhook_id, type, source, fired_at, email,
        attempts`` (status codes, ``"error"`` for no answer), ``delivered``, ``done``."""
        return self._admin("GET", f"/lists/{list_id}/webhook-deliveries", api_key)["deliveries"]

    def tag_member(
        self,
        api_key: str,
        list_id: str,
        subscriber_hash: str,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
    ) -> dict[str, Any]:
        """A marketer tags/untags a member in Mailchimp's UI."""
        ref = _member_ref(subscriber_hash)
        body = {"add": list(add), "remove": list(remove)}
        return self._admin("POST", f"/lists/{list_id}/members/{ref}/tags", api_key, json_body=body)

    def create_campaign(self, api_key: str, **fields: Any) -> dict[str, Any]:
        """Create a campaign (``list_id, title, status, emails_sent, unique_opens,
        unique_subscriber_clicks, unsubscribed, hard_bounces, soft_bounces, send_time`` …)."""
        return self._admin("POST", "/campaigns", api_key, json_body=fields)

    def patch_campaign(self, api_key: str, campaign_id: str, **fields: Any) -> dict[str, Any]:
        """Change a campaign's status and report figures."""
        return self._admin("PATCH", f"/campaigns/{campaign_id}", api_key, json_body=fields)

    def delete_campaign(self, api_key: str, campaign_id: str) -> None:
        """Delete a campaign (GET then 404s)."""
        self._admin("DELETE", f"/campaigns/{campaign_id}", api_key)

    # ---- members in bulk -------------------------------------------------------------------
    def dump_list(
        self, api_key: str, list_id: str, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Every member including archived: ``email_address, subscriber_hash, status,
        merge_fields, tags`` (names), ``last_changed, unsubscribe_reason, compliance, contact_id,
        confirmation_emails``."""
        params = {"status": status} if status else None
        return self._admin("GET", f"/lists/{list_id}/members", api_key, params=params)["members"]

    def bulk_load(
        self,
        api_key: str,
        list_id: str,
        members: Iterable[dict[str, Any]],
        chunk_size: int = 100_000,
    ) -> dict[str, int]:
        """Load members without the API (not part of Mailchimp): rows ``{"email_address",
        "status", "merge_fields", "tags", "last_changed"}``, sent as JSON lines in chunks."""
        totals = {"loaded": 0, "created": 0, "updated": 0}
        it: Iterator[dict[str, Any]] = iter(members)
        while True:
            chunk = list(islice(it, chunk_size))
            if not chunk:
                return totals
            content = "\n".join(json.dumps(m, ensure_ascii=False) for m in chunk).encode("utf-8")
            out = self._admin(
                "POST", f"/lists/{list_id}/members/bulk-load", api_key, content=content
            )
            for k in totals:
                totals[k] += out[k]
