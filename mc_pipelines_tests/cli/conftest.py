"""Fixtures of the CLI tests: `mc-pipelines` run in process against the test database and the
emulator."""

from __future__ import annotations

import pytest

from mc_pipelines_tests.support.cli import Cli, point_at


@pytest.fixture
def cli(app_engine, emulator, monkeypatch, capsys) -> Cli:
    """The CLI on the parametrized application DB (PostgreSQL and SQLite)."""
    point_at(app_engine, emulator, monkeypatch)
    return Cli(app_engine, capsys)


@pytest.fixture
def pg_cli(pg_app_engine, emulator, monkeypatch, capsys) -> Cli:
    """The CLI on PostgreSQL only (commands that run a whole Dagster job)."""
    point_at(pg_app_engine, emulator, monkeypatch)
    return Cli(pg_app_engine, capsys)
