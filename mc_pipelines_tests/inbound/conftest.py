"""Fixtures of the inbound tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import DagsterInstance

from mc_pipelines_tests.support.secret_scan import scanned_instance


@pytest.fixture(scope="session")
def dagster_instance() -> Iterator[DagsterInstance]:
    """One in-memory test instance for the inbound tests (each test uses its own org partitions)."""
    with scanned_instance() as instance:
        yield instance
