"""Fixtures for the emulator's tests: one emulator per session (thread mode, real HTTP on
loopback), a fresh account per test (so tests never see each other's data) and Mailchimp's
official Python SDK pointed at the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mailchimp_emulator.harness import EmulatorServer

from .helpers import Receiver, sdk_for


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (`@pytest.mark.anyio`) run on anyio's pytest plugin, on asyncio only (the
    plugin's default would also try trio, which the asyncio-based tests do not support)."""
    return "asyncio"


@pytest.fixture(scope="session")
def emu() -> Iterator[EmulatorServer]:
    """The Mailchimp emulator in a background thread, shared by the session."""
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def account(emu: EmulatorServer) -> dict[str, str]:
    """A fresh account: ``{"api_key", "dc", "account_name"}``."""
    return emu.create_account("Acme Test")


@pytest.fixture
def api_key(account: dict[str, str]) -> str:
    """The fresh account's API key."""
    return account["api_key"]


@pytest.fixture
def list_id(emu: EmulatorServer, api_key: str) -> str:
    """An audience of the fresh account, created through ``POST /lists``."""
    return emu.create_list(api_key, "Customers")


@pytest.fixture
def sdk(emu: EmulatorServer, account: dict[str, str]) -> Any:
    """The SDK for the fresh account."""
    return sdk_for(emu, account["api_key"], account["dc"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 recording what the emulator sends it."""
    server = Receiver()
    yield server
    server.close()
