"""The built wheel ships the migrations as package data (and neither the tests nor the emulator),
and an installed copy — outside the repository, with no `sql/` folder beside it — creates the
schema with `mc-pipelines init-db`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from mc_pipelines.store.tables import metadata

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_SQL = ROOT / "mc_pipelines" / "store" / "sql"
# what a build needs from the checkout; the rest (virtualenv, data, caches, stale build/) stays out
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", ".data", "build", "dist", "*.egg-info", "__pycache__",
                                     ".pytest_cache", ".ruff_cache", ".hypothesis", "test-artifacts")


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{args[:3]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of the checkout (so no `build/` is left behind)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_NOT_SOURCE)
    _run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(tmp / "dist")],
         cwd=tmp)
    (built,) = (tmp / "dist").glob("mc_pipelines-*.whl")
    return built


def test_the_top_level_sql_folder_is_the_package_data():
    assert (ROOT / "sql").is_symlink() and (ROOT / "sql").resolve() == PACKAGE_SQL.resolve()
    assert sorted(p.name for p in PACKAGE_SQL.glob("*.sql"))


def test_the_wheel_ships_every_migration_and_no_tests(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("mc_pipelines/store/sql/"))
    assert shipped == sorted(p.name for p in PACKAGE_SQL.glob("*.sql"))
    assert not [n for n in names if n.startswith("mc_pipelines_tests/")]
    # the emulator is its own dev-only distribution (mailchimp_emulator/pyproject.toml)
    assert not [n for n in names if n.startswith("mailchimp_emulator/")]


def test_an_installed_wheel_creates_the_schema_outside_the_repository(wheel: Path, tmp_path: Path):
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
         cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    database = tmp_path / "app.db"
    env = {**os.environ, "PYTHONPATH": str(site), "MC_DATABASE_URL": f"sqlite:///{database}"}
    # the installed copy is the one imported, not the checkout's editable install
    where = _run([sys.executable, "-c", "import mc_pipelines.store.migrations as m; print(m.SQL_DIR)"],
                 cwd=elsewhere, env=env)
    assert Path(where.strip()).resolve().is_relative_to(site.resolve())
    out = _run([str(site / "bin" / "mc-pipelines"), "init-db"], cwd=elsewhere, env=env)
    assert "001_app_schema.sql" in out
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {t.name for t in metadata.sorted_tables} | {"schema_migrations"} <= tables
    assert not (elsewhere / ".data").exists()
