"""Fixtures of the inbound tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import DagsterInstance, instance_for_test


@pytest.fixture(scope="session")
def dagster_instance() -> Iterator[DagsterInstance]:
    """One test instance for the inbound tests (each test uses its own org partitions)."""
    with instance_for_test() as instance:
        yield instance
