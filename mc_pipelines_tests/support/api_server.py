"""`mc-pipelines serve`'s app (control API + webhook receiver) on a loopback port, in a thread,
reached over real HTTP with httpx."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from sqlalchemy.engine import Engine

from mc_pipelines.api.app import create_server


@contextmanager
def serve_api(engine: Engine | Callable[[], Engine], token: str | None = None) -> Iterator[tuple[str, str]]:
    """Serve the app on 127.0.0.1 and a free port; yields (base URL, service token)."""
    token = token or secrets.token_urlsafe(32)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_server(token, engine), log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="control-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the control API did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class Api(httpx.Client):
    """An httpx client of the served API, authenticated with the service token."""

    def __init__(self, base_url: str, token: str, engine: Engine) -> None:
        super().__init__(base_url=base_url + "/api", headers={"Authorization": f"Bearer {token}"},
                         timeout=60)
        self.root = base_url
        self.token = token
        self.engine = engine
