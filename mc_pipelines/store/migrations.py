"""Applies the numbered SQL files in `sql/` in order, once each, recording applied versions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered migration file."""

    version: int
    name: str
    path: Path


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    """The migrations in `sql_dir`, ordered by version; rejects duplicate numbers."""
    found: dict[int, Migration] = {}
    for path in sorted(sql_dir.glob("*.sql")):
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


def migrate(engine: Engine, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply every pending migration, each in its own transaction. Returns the names applied."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
        )
    done = applied_versions(engine)
    applied = []
    for migration in discover(sql_dir):
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
