"""The service token: `serve` refuses to start without it (naming the variable), the demo falls
back to a generated token file, and the header comparison accepts only the exact token."""

from __future__ import annotations

import stat

import pytest

from mc_pipelines.api.auth import SERVICE_TOKEN_ENV, ServiceTokenError, service_token, token_matches
from mc_pipelines.cli import main


def test_serve_refuses_to_start_without_a_token(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv(SERVICE_TOKEN_ENV, raising=False)
    monkeypatch.setenv("MC_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: MC_SERVICE_TOKEN is not set") and err.count("\n") == 1
    monkeypatch.setenv(SERVICE_TOKEN_ENV, "short")
    assert main(["serve", "--port", "1"]) == 2
    assert "at least 24 characters" in capsys.readouterr().err


def test_the_demo_generates_a_private_token_file(monkeypatch, tmp_path):
    monkeypatch.delenv(SERVICE_TOKEN_ENV, raising=False)
    with pytest.raises(ServiceTokenError):
        service_token(data_dir=tmp_path)
    token = service_token(demo=True, data_dir=tmp_path)
    assert token == service_token(demo=True, data_dir=tmp_path) and len(token) >= 24
    assert stat.S_IMODE((tmp_path / "service.token").stat().st_mode) == 0o600


@pytest.mark.parametrize(("header", "ok"), [
    ("Bearer " + "t" * 30, True), ("bearer " + "t" * 30, True), ("Bearer " + "t" * 29, False),
    ("Bearer " + "t" * 31, False), ("Basic " + "t" * 30, False), ("", False), (None, False),
    ("Bearer \u00e9" + "t" * 29, False),
])
def test_token_matches_only_the_exact_bearer_token(header, ok):
    assert token_matches(header, "t" * 30) is ok
