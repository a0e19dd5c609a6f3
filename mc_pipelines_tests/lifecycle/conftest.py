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


# Every row runs on PostgreSQL in `make test`; on SQLite (the embedded demo path, same code and
# migrations) the rows whose store paths differ most run by default and the rest with `-m slow`
# (`pytest -m "slow" mc_pipelines_tests/lifecycle`), which keeps the default suite quick.
SQLITE_BY_DEFAULT = ("test_A3_", "test_A5_", "test_A7_", "test_A8_", "test_B5_", "test_B9_",
                     "test_B10_", "test_C1_", "test_C4_", "test_E1_")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the SQLite variants of the other rows `slow`."""
    for item in items:
        if "lifecycle" in item.nodeid and "[sqlite" in item.nodeid and \
                not item.name.startswith(SQLITE_BY_DEFAULT):
            item.add_marker(pytest.mark.slow)
