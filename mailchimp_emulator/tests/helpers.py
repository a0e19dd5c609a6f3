"""Helpers shared by the emulator's tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import mailchimp_marketing
import pytest
from mailchimp_marketing.api_client import ApiClientError

from mailchimp_emulator.harness import EmulatorServer


def h(email: str) -> str:
    """Mailchimp's subscriber hash of an email."""
    return hashlib.md5(email.lower().encode()).hexdigest()


def sdk_for(emu: EmulatorServer, api_key: str | None = None, dc: str = "us1", **config: Any) -> Any:
    """Mailchimp's official SDK, unchanged, with its public ``host`` pointed at the emulator."""
    client = mailchimp_marketing.Client()
    cfg: dict[str, Any] = {"server": dc, **config}
    if api_key is not None:
        cfg["api_key"] = api_key
    client.set_config(cfg)
    client.api_client.host = emu.api_url(dc)
    return client


def sdk_error(exc: pytest.ExceptionInfo[ApiClientError]) -> tuple[int, dict[str, Any]]:
    """``(status, problem document)`` of an SDK error (the SDK leaves problem+json as text)."""
    err = exc.value
    body = err.text if isinstance(err.text, dict) else json.loads(err.text)
    return err.status_code, body


def put(sdk: Any, list_id: str, email: str, **body: Any) -> dict[str, Any]:
    """``PUT /lists/{id}/members/{hash}`` through the SDK."""
    return sdk.lists.set_list_member(list_id, h(email), {"email_address": email, **body})


def api_client(emu: EmulatorServer, api_key: str) -> httpx.Client:
    """A plain httpx client on the API root of the key's data centre (Basic auth)."""
    return httpx.Client(
        base_url=emu.api_url(api_key.rpartition("-")[2]), auth=("u", api_key), timeout=30
    )


class Receiver:
    """A small HTTP server on 127.0.0.1 recording every request (the webhook receiver of the
    tests).  ``statuses`` answers the POSTs in order (then 200); GETs (validation) answer
    ``get_status``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.get_status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self, body: bytes) -> None:
                receiver.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "form": parse_qs(body.decode(), keep_blank_values=True),
                    }
                )

            def do_GET(self) -> None:
                self._record(b"")
                self.send_response(receiver.get_status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                self._record(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def posts(self) -> list[dict[str, str]]:
        """The deliveries received, each form flattened to ``{key: value}``."""
        return [
            {k: v[0] for k, v in r["form"].items()} for r in self.requests if r["method"] == "POST"
        ]

    def close(self) -> None:
        """Stop the server."""
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``predicate`` until it returns something truthy (or fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
