"""Real components for the test suite: a fresh PostgreSQL database per test session (created and
dropped here, never the shared `test` database), SQLite files, and the Mailchimp emulator over
HTTP on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.store.db import create_db_engine
from mc_pipelines.store.migrations import migrate
from mc_pipelines.store.tables import metadata

# every log record, Dagster event, exception and CLI output of the session is scanned for the
# API keys the suite created (see support/secret_scan.py)
pytest_plugins = ["mc_pipelines_tests.support.secret_scan"]

PG_ADMIN_DSN = os.environ.get("MC_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (`@pytest.mark.anyio`) run on anyio's pytest plugin, on asyncio."""
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def _test_environment() -> Iterator[None]:
    """A Fernet key for encrypting stored API keys; no Mailchimp URL outside loopback."""
    from mc_pipelines_tests.support.app_data import TEST_FERNET_KEY

    saved = {k: os.environ.get(k) for k in ("MC_SECRET_KEY", "MC_MAILCHIMP_BASE_URL")}
    os.environ["MC_SECRET_KEY"] = TEST_FERNET_KEY
    os.environ.pop("MC_MAILCHIMP_BASE_URL", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A PostgreSQL database created for this test session, dropped afterwards."""
    name = f"mc_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    params = dict(p.split("=", 1) for p in PG_ADMIN_DSN.split())
    url = f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:{params.get('port', '5432')}/{name}"
    yield url
    sa.create_engine(url).dispose()
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_engine(pg_database_url: str) -> Iterator[Engine]:
    """The session's PostgreSQL engine with the migrations applied."""
    engine = create_db_engine(pg_database_url)
    migrate(engine)
    yield engine
    engine.dispose()


def _wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in metadata.sorted_tables:  # the Core tables declare no FKs: orgs goes last
            if table.name != "orgs":
                conn.execute(table.delete())
        conn.execute(metadata.tables["orgs"].delete())


@pytest.fixture(params=["postgresql", "sqlite"])
def app_engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    """An empty, migrated application database — once on PostgreSQL, once on SQLite."""
    if request.param == "postgresql":
        engine = request.getfixturevalue("pg_engine")
        _wipe(engine)
        yield engine
        return
    engine = create_db_engine(f"sqlite:///{tmp_path / 'app.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_app_engine(pg_engine: Engine) -> Engine:
    """The PostgreSQL application database, emptied for this test."""
    _wipe(pg_engine)
    return pg_engine


@pytest.fixture(scope="session")
def emulator():
    """The Mailchimp emulator on a free loopback port, shared by the session (tests create their
    own accounts, so they never see each other's data)."""
    from mailchimp_emulator.harness import EmulatorServer

    with EmulatorServer() as server:
        yield server
