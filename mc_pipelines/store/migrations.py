"""Applies the numbered SQL files in order, once each, recording applied versions.

The files are package data of `mc_pipelines.store` (`mc_pipelines/store/sql/`, which the
repository's top-level `sql/` links to), found with `importlib.resources` so an installed wheel
migrates exactly like a checkout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from importlib.resources.abc import Traversable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

SQL_DIR: Traversable = files("mc_pipelines.store") / "sql"
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class MigrationsNotFoundError(RuntimeError):
    """No migration file where the schema should come from (a broken install or a wrong path)."""


@dataclass(frozen=True)
class Migration:
    """One numbered migration file."""

    version: int
    name: str
    path: Traversable


def _sql_files(sql_dir: Traversable) -> list[Traversable]:
    hint = "(is the mc_pipelines package installed with its package data?)"
    if not sql_dir.is_dir():
        raise MigrationsNotFoundError(f"no migrations: {sql_dir} is not a directory {hint}")
    found = sorted((f for f in sql_dir.iterdir() if f.name.endswith(".sql") and f.is_file()),
                   key=lambda f: f.name)
    if not found:
        raise MigrationsNotFoundError(f"no migrations: {sql_dir} holds no *.sql file {hint}")
    return found


def discover(sql_dir: Traversable = SQL_DIR) -> list[Migration]:
    """The migrations in `sql_dir`, ordered by version; rejects duplicate numbers and raises
    `MigrationsNotFoundError` (naming the directory) when there is none."""
    found: dict[int, Migration] = {}
    for path in _sql_files(sql_dir):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise ValueError(f"{path.name}: migration files must be named NNN_lower_snake.sql")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two migrations share version {version:03d}: {found[version].name}, {path.name}")
        found[version] = Migration(version, path.name, path)
    return [found[v] for v in sorted(found)]


def split_statements(sql: str) -> list[str]:
    """Split a migration into statements (the files use no semicolons inside literals)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def applied_versions(engine: Engine) -> set[int]:
    """Versions already recorded in `schema_migrations` (empty on a new database)."""
    if not sa.inspect(engine).has_table("schema_migrations"):
        return set()
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(sa.text("SELECT version FROM schema_migrations"))}


def migrate(engine: Engine, sql_dir: Traversable = SQL_DIR) -> list[str]:
    """Apply every pending migration, each in its own transaction. Returns the names applied.

    Raises `MigrationsNotFoundError` (before touching the database) when `sql_dir` holds none."""
    migrations = discover(sql_dir)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
        )
    done = applied_versions(engine)
    applied = []
    for migration in migrations:
        if migration.version in done:
            continue
        with engine.begin() as conn:
            for statement in split_statements(migration.path.read_text(encoding="utf-8")):
                conn.execute(sa.text(statement))
            conn.execute(
                sa.text("INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :n, :at)"),
                {"v": migration.version, "n": migration.name, "at": datetime.now(UTC).replace(tzinfo=None)},
            )
        applied.append(migration.name)
    return applied
