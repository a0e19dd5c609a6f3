"""Helpers of the Mailchimp client tests: a fresh emulator account per test and a client with
test-sized retry timings (the emulator runs over real HTTP on loopback; nothing is mocked).
The async tests run on anyio's pytest plugin (`@pytest.mark.anyio`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from mc_pipelines.mailchimp.endpoints import MailchimpClient

_names = itertools.count(1)

#: Retry timings small enough for tests, same shape as production.
FAST_RETRY = {
    "backoff_base": 0.005,
    "backoff_cap": 0.05,
    "max_retry_seconds": 20.0,
    "timeout": 10.0,
}


@dataclass
class Account:
    server: Any  # EmulatorServer
    api_key: str
    dc: str
    name: str
    list_id: str

    def client(self, **kwargs: Any) -> MailchimpClient:
        options: dict[str, Any] = {"base_url_template": self.server.base_url_template, **FAST_RETRY}
        options.update(kwargs)
        return MailchimpClient(self.api_key, **options)

    def stats(self) -> dict[str, Any]:
        return self.server.stats(self.api_key)

    def count(self, endpoint: str, status: int | str | None = None) -> int:
        """Requests the emulator saw on ``"<METHOD> <template>"`` (with ``status`` if given)."""
        by_status = self.stats()["requests"].get(endpoint, {})
        if status is None:
            return sum(by_status.values())
        return by_status.get(str(status), 0)

    def faults(self, **kwargs: Any) -> None:
        self.server.set_faults(api_key=self.api_key, **kwargs)


def new_account(server: Any, dc: str = "us1") -> Account:
    name = f"client-test-{next(_names)}"
    acct = server.create_account(name, dc=dc)
    list_id = server.create_list(acct["api_key"], f"{name} audience")
    return Account(server, acct["api_key"], acct["dc"], name, list_id)


def emails(n: int, prefix: str = "member", domain: str = "acme-mail.net") -> list[str]:
    return [f"{prefix}{i:05d}@{domain}" for i in range(n)]


@pytest.fixture
def account(emulator) -> Account:
    """A fresh account (own key, audience and fault settings) on the session's emulator; the
    client test modules import it (it overrides the emulator conftest's dict-valued `account`)."""
    return new_account(emulator)
