"""Fixtures for the Mailchimp tests: one emulator per session (thread mode, real HTTP on
loopback), a fresh account per test (so tests never see each other's data) and Mailchimp's
official Python SDK pointed at the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import mailchimp_marketing
import pytest
from mailchimp_marketing.api_client import ApiClientError

from mailchimp_emulator.harness import EmulatorServer


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


def sdk_for(emu: EmulatorServer, api_key: str | None = None, dc: str = "us1", **config: Any) -> Any:
    """Mailchimp's official SDK, unchanged, with its public ``host`` pointed at the emulator."""
    client = mailchimp_marketing.Client()
    cfg: dict[str, Any] = {"server": dc, **config}
    if api_key is not None:
        cfg["api_key"] = api_key
    client.set_config(cfg)
    client.api_client.host = emu.api_url(dc)
    return client


@pytest.fixture
def sdk(emu: EmulatorServer, account: dict[str, str]) -> Any:
    """The SDK for the fresh account."""
    return sdk_for(emu, account["api_key"], account["dc"])


def sdk_error(exc: pytest.ExceptionInfo[ApiClientError]) -> tuple[int, dict[str, Any]]:
    """``(status, problem document)`` of an SDK error (the SDK leaves problem+json as text)."""
    err = exc.value
    body = err.text if isinstance(err.text, dict) else json.loads(err.text)
    return err.status_code, body
