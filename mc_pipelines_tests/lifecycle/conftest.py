"""A `world` per test: one org connected to its own emulator account, on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import instance_for_test

from mc_pipelines_tests.lifecycle.world import World


@pytest.fixture
def world(app_engine, emulator) -> Iterator[World]:
    """A fresh org and Mailchimp account; the Dagster instance lives for the test."""
    with instance_for_test() as instance:
        world = World(app_engine, emulator, instance)
        try:
            yield world
        finally:
            world.close()
