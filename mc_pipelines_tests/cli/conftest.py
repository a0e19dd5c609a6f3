"""Running `mc-pipelines` in process against the test database and the emulator."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.engine import Engine

from mc_pipelines.cli import main


@dataclass
class Outcome:
    """Exit code and captured output of one command."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class Cli:
    """`mc-pipelines` bound to one application database."""

    def __init__(self, engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
        self.engine = engine
        self._capsys = capsys

    def __call__(self, *argv: str) -> Outcome:
        self._capsys.readouterr()
        code = main(list(argv))
        captured = self._capsys.readouterr()
        return Outcome(code, captured.out, captured.err)


def _point_at(engine: Engine, emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MC_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MC_MAILCHIMP_BASE_URL", emulator.base_url_template)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # `sync`/`erase-contact`: an ephemeral instance
    monkeypatch.delenv("MC_API_KEY", raising=False)


@pytest.fixture
def cli(app_engine, emulator, monkeypatch, capsys) -> Cli:
    """The CLI on the parametrized application DB (PostgreSQL and SQLite)."""
    _point_at(app_engine, emulator, monkeypatch)
    return Cli(app_engine, capsys)


@pytest.fixture
def pg_cli(pg_app_engine, emulator, monkeypatch, capsys) -> Cli:
    """The CLI on PostgreSQL only (commands that run a whole Dagster job)."""
    _point_at(pg_app_engine, emulator, monkeypatch)
    return Cli(pg_app_engine, capsys)
