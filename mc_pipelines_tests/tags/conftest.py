"""A `world` per test (one org, its own emulator account), on PostgreSQL: the tag workflows
(push of app tags, new-member tags, the tags read and download, spreadsheet import)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import instance_for_test

from mc_pipelines_tests.lifecycle.world import World


@pytest.fixture
def world(pg_app_engine, emulator) -> Iterator[World]:
    """A fresh org and Mailchimp account on PostgreSQL; the Dagster instance lives for the test."""
    with instance_for_test() as instance:
        world = World(pg_app_engine, emulator, instance)
        try:
            yield world
        finally:
            world.close()
