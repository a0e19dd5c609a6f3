"""The parts a benchmark runs on, created for the run and removed afterwards.

- a fresh PostgreSQL database (`mc_bench_<pid>_<random>`) on the local server, migrated, dropped
  at the end (`MC_BENCH_PG_DSN`, default `host=127.0.0.1 port=5432 user=postgres
  dbname=postgres`, names the server and an admin database to connect to);
- the Mailchimp emulator in its own process (so it never competes for this process's GIL) with
  the latency model of the benchmarks: 40 ms per call + 0.2 ms per member of a bulk call;
- a throw-away Dagster instance directory (SQLite storage, the fs IO manager's pickles);
- a Fernet key for the stored API keys when `MC_SECRET_KEY` is not set.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine

from mailchimp_emulator.harness import EmulatorServer
from mc_pipelines.errors import FixableError
from mc_pipelines.store.db import create_db_engine
from mc_pipelines.store.migrations import migrate

PG_ADMIN_DSN = os.environ.get(
    "MC_BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
LATENCY_MS = 40.0
PER_MEMBER_MS = 0.2
MAX_CONNECTIONS = 10


class BenchSetupError(FixableError, RuntimeError):
    """A part the benchmark needs is missing (message says what to start or install)."""


@dataclass
class BenchEnvironment:
    """PostgreSQL database + emulator process + Dagster home; use as a context manager."""

    latency_ms: float = LATENCY_MS
    per_member_ms: float = PER_MEMBER_MS
    database_url: str = ""
    dagster_home: Path = field(default_factory=Path)
    emulator: EmulatorServer | None = None
    engine: Engine | None = None
    _db_name: str = ""
    _saved_env: dict[str, str | None] = field(default_factory=dict)
    _next_org: int = 0

    def __enter__(self) -> BenchEnvironment:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        self._saved_env = {k: os.environ.get(k) for k in ("MC_SECRET_KEY", "DAGSTER_HOME")}
        if not os.environ.get("MC_SECRET_KEY"):
            os.environ["MC_SECRET_KEY"] = Fernet.generate_key().decode()
        self._db_name = f"mc_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        try:
            _pg_admin(f'CREATE DATABASE "{self._db_name}"')
        except psycopg.OperationalError as exc:
            raise BenchSetupError(
                f"cannot reach PostgreSQL ({PG_ADMIN_DSN}): {exc}. Start it (`.ci/run` does) "
                "or point MC_BENCH_PG_DSN at a server where this user may create databases."
            ) from None
        params = dict(p.split("=", 1) for p in PG_ADMIN_DSN.split())
        self.database_url = (
            f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}"
            f":{params.get('port', '5432')}/{self._db_name}"
        )
        self.engine = create_db_engine(self.database_url)
        migrate(self.engine)
        self.dagster_home = Path(tempfile.mkdtemp(prefix="mc-bench-dagster-"))
        self.emulator = EmulatorServer(
            mode="process", latency_ms=self.latency_ms, per_member_ms=self.per_member_ms,
            max_connections=MAX_CONNECTIONS, startup_timeout=60.0,
        ).start()

    @property
    def psycopg_dsn(self) -> str:
        """The bench database for psycopg (COPY fast paths)."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://")

    def new_org_id(self, label: str) -> str:
        """A fresh org id and the contact-id offset that keeps its ids apart from other orgs'."""
        self._next_org += 1
        return f"bench-{label}-{self._next_org}"

    def id_offset(self) -> int:
        """Contact ids are a global primary key: each org of the run gets its own range."""
        return self._next_org * 100_000_000

    def close(self) -> None:
        """Stop the emulator, drop the database, remove the Dagster home (idempotent)."""
        if self.emulator is not None:
            self.emulator.close()
            self.emulator = None
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None
        if self._db_name:
            with contextlib.suppress(psycopg.Error):
                _pg_admin(f'DROP DATABASE IF EXISTS "{self._db_name}" WITH (FORCE)')
            self._db_name = ""
        if self.dagster_home and str(self.dagster_home) not in ("", ".") and self.dagster_home.exists():
            shutil.rmtree(self.dagster_home, ignore_errors=True)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}


def _pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql)
