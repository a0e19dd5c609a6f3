"""Fixtures of the automation tests: the project's production Dagster instance config on a
PostgreSQL database of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from mc_pipelines_tests.conftest import PG_ADMIN_DSN

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def production_instance_config(monkeypatch) -> Iterator[dict]:
    """The project's dagster.yaml, its DAGSTER_PG_* pointing at a PostgreSQL database created
    for this test (dropped after)."""
    name = f"dagster_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = dict(p.split("=", 1) for p in PG_ADMIN_DSN.split())
    for var, value in {"DAGSTER_PG_HOST": params.get("host", "127.0.0.1"), "DAGSTER_PG_DB": name,
                       "DAGSTER_PG_USER": params.get("user", "postgres"),
                       "DAGSTER_PG_PASSWORD": params.get("password", "")}.items():
        monkeypatch.setenv(var, value)
    yield yaml.safe_load((ROOT / "dagster.yaml").read_text())
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


