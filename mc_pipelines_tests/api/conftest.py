"""The control API served over real HTTP on loopback (PostgreSQL behind it), the emulator as
Mailchimp (its OAuth metadata route included)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mc_pipelines.mailchimp.oauth import OAUTH_METADATA_ENV
from mc_pipelines_tests.support.api_server import Api, serve_api


@pytest.fixture(scope="session")
def api_server(pg_engine) -> Iterator[tuple[str, str]]:
    """One server (in a thread of this process) for the session's PostgreSQL database."""
    with serve_api(pg_engine) as served:
        yield served


@pytest.fixture
def api(api_server, pg_app_engine, emulator, monkeypatch) -> Iterator[Api]:
    """A client of the served API, Mailchimp = the emulator; the database emptied for this test."""
    monkeypatch.setenv("MC_MAILCHIMP_BASE_URL", emulator.base_url_template)
    monkeypatch.setenv(OAUTH_METADATA_ENV, emulator.oauth_metadata_url)
    base_url, token = api_server
    with Api(base_url, token, pg_app_engine) as client:
        yield client
