"""Mailchimp's official Python SDK, unchanged, pointed at the emulator, and its errors read back."""

from __future__ import annotations

import json
from typing import Any

import mailchimp_marketing
import pytest
from mailchimp_marketing.api_client import ApiClientError

from mailchimp_emulator.harness import EmulatorServer


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
