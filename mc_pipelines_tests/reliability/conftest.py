"""Fixtures of the reliability suite (the session-wide secret scan is registered by the root
conftest, see `support/secret_scan.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailchimp_emulator.harness import EmulatorServer
from mc_pipelines_tests.support.secret_scan import capture_text


@pytest.fixture(scope="session")
def process_emulator() -> Iterator[EmulatorServer]:
    """The emulator in its own process (so a fault run's client and server do not share a GIL),
    with a little latency; tests set their faults per account."""
    server = EmulatorServer(mode="process", latency_ms=2)
    with server:
        yield server
        capture_text("process emulator output", server.process_output())
