"""Helpers of the automation and CLI tests: database snapshots and stub connections."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.resources import AppDatabase
from mc_pipelines.store.connections import save_connection, update_connection
from mc_pipelines.store.secrets import encrypt_secret
from mc_pipelines.store.tables import metadata

STUB_KEY = "0123456789abcdef0123456789abcdef-us1"


def table_snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every application table, to assert that a refused action wrote nothing."""
    with engine.connect() as conn:
        return {
            table.name: sorted(tuple(map(repr, row)) for row in conn.execute(sa.select(table)))
            for table in metadata.sorted_tables
        }


def app_db(engine: Engine) -> AppDatabase:
    """The `app_db` resource on the test database."""
    return AppDatabase(url=engine.url.render_as_string(hide_password=False))


def connect_stub(engine: Engine, org_id: str, *, auto_sync: bool = False, enabled: bool = True,
                 audience_id: str = "aud1") -> None:
    """A connection row without Mailchimp behind it (for sensors and schedules, which never call it)."""
    save_connection(engine, org_id=org_id, api_key_encrypted=encrypt_secret(STUB_KEY), server_prefix="us1",
                    audience_id=audience_id, account_name=f"{org_id} account", auto_sync=auto_sync,
                    actor="test")
    if not enabled:
        update_connection(engine, org_id, enabled=False)
