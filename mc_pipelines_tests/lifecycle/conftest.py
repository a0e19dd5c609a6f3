"""A `world` per test: one org connected to its own emulator account, on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mc_pipelines_tests.lifecycle.world import World
from mc_pipelines_tests.support.secret_scan import scanned_instance


@pytest.fixture
def world(app_engine, emulator) -> Iterator[World]:
    """A fresh org and Mailchimp account; the Dagster instance (in memory, its event log scanned
    for secrets) lives for the test."""
    with scanned_instance() as instance:
        world = World(app_engine, emulator, instance)
        try:
            yield world
        finally:
            world.close()
