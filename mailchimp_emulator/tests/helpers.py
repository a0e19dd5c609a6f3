"""Helpers shared by the emulator's tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

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
