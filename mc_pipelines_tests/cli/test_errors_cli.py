"""How `mc-pipelines` reports what went wrong: usage errors and fixable errors exit 2, any other
error is one `error:` line with exit 1 (its traceback only with `--verbose`)."""

from __future__ import annotations

import pytest

from mc_pipelines.cli import main

# nothing listens on port 1: connecting fails with a driver error, not a fixable one
UNREACHABLE_DB = "postgresql+psycopg://postgres@127.0.0.1:1/none"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_usage_errors_exit_2_with_the_usage(capsys):
    code, out, err = run(capsys, "sync")
    assert (code, out) == (2, "") and "Missing option '--org'" in err
    code, _out, err = run(capsys, "no-such-command")
    assert code == 2 and "No such command 'no-such-command'" in err
    code, out, _err = run(capsys, "--help")
    assert code == 0 and "sync-now" in out and "erase-contact" in out


def test_a_missing_schema_is_one_fixable_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MC_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    code, out, err = run(capsys, "status")
    assert (code, out) == (2, "")
    assert err == "error: the application database has no schema yet: run `mc-pipelines init-db` first\n"


def test_an_unexpected_error_is_one_line_and_its_traceback_only_with_verbose(monkeypatch, capsys):
    monkeypatch.setenv("MC_DATABASE_URL", UNREACHABLE_DB)
    code, out, err = run(capsys, "status")
    assert (code, out) == (1, "")
    assert err.startswith("error: OperationalError: ") and err.count("\n") == 1, err

    code, out, err = run(capsys, "--verbose", "status")
    assert (code, out) == (1, "")
    assert err.startswith("Traceback (most recent call last):"), err
    assert err.splitlines()[-1].startswith("error: OperationalError: ")
