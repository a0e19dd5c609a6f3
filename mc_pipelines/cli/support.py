"""Shared plumbing of the operator commands: the database engine, the `--org`/`--verbose`
options, the audit actor, plain tables and the Dagster instance."""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import click
import sqlalchemy as sa
from dagster import DagsterInstance
from sqlalchemy.engine import Engine

from mc_pipelines.config import database_url
from mc_pipelines.errors import FixableError
from mc_pipelines.store.db import engine_for


@dataclass
class CliState:
    """What every command shares through click's context object."""

    verbose: bool = False


def _note_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.ensure_object(CliState).verbose = True
    return value


def verbose_option(help_text: str) -> Any:
    """`--verbose`: more output, and the traceback of an unexpected error."""
    return click.option("--verbose", is_flag=True, help=help_text, callback=_note_verbose)


org_option = click.option("--org", required=True, help="org id")


def app_engine(require_schema: bool = True) -> Engine:
    """The application database engine (`MC_DATABASE_URL`); checks the schema is there."""
    engine = engine_for(database_url())
    if require_schema and not sa.inspect(engine).has_table("schema_migrations"):
        raise FixableError(
            "the application database has no schema yet: run `mc-pipelines init-db` first"
        )
    return engine


def cli_actor() -> str:
    """The audit actor of a command: `cli:<os user>`."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "cli"


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in header], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def current_instance() -> DagsterInstance:
    """The Dagster instance of `DAGSTER_HOME`, or an ephemeral one when it is not set."""
    return DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
