"""`mc-pipelines` run in process against one application database, and what a refused command
must look like."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.engine import Engine

from mc_pipelines.cli import main
from mc_pipelines_tests.support.db import table_snapshot


@dataclass
class Outcome:
    """Exit code and captured output of one command."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """stdout then stderr."""
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


def point_at(engine: Engine, emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's environment: the test database, the emulator, an ephemeral Dagster instance."""
    monkeypatch.setenv("MC_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MC_MAILCHIMP_BASE_URL", emulator.base_url_template)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # `sync`/`erase-contact`: an ephemeral instance
    monkeypatch.delenv("MC_API_KEY", raising=False)


def assert_key_hidden(text: str, key: str) -> None:
    """Neither the API key nor its body (without the `-dc`) appears in `text`."""
    assert key not in text and key.rpartition("-")[0] not in text


def assert_refused(cli, argv: list[str], fragment: str, *, key: str = "") -> None:
    """Exit 2, one `error:` line containing `fragment`, nothing written, key not shown."""
    before = table_snapshot(cli.engine)
    outcome = cli(*argv)
    assert outcome.code == 2, outcome.text
    assert outcome.out == "" and outcome.err.startswith("error: ") and outcome.err.count("\n") == 1
    assert fragment in outcome.err, outcome.err
    assert table_snapshot(cli.engine) == before
    if key:
        assert_key_hidden(outcome.text, key)
