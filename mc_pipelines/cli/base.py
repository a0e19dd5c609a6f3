"""Shared plumbing of the CLI commands: the database engine and operator-facing errors."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.config import database_url
from mc_pipelines.store.db import engine_for


class OperatorError(Exception):
    """An error the operator can fix; its message says how. Printed without a traceback."""


def app_engine(require_schema: bool = True) -> Engine:
    """The application database engine (`MC_DATABASE_URL`); checks the schema is there."""
    engine = engine_for(database_url())
    if require_schema and not sa.inspect(engine).has_table("schema_migrations"):
        raise OperatorError(
            "the application database has no schema yet: run `mc-pipelines init-db` first"
        )
    return engine
