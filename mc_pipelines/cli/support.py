"""Helpers of the operator commands: fixable errors as one line, the actor, tables, the instance."""

from __future__ import annotations

import argparse
import functools
import getpass
import os
from collections.abc import Callable, Sequence
from typing import Any

from dagster import DagsterInstance

from mc_pipelines.actions.connections import ConnectError
from mc_pipelines.cli.base import OperatorError
from mc_pipelines.errors import OperationError
from mc_pipelines.store.connections import NotConnectedError, UnknownOrgError
from mc_pipelines.store.secrets import SecretKeyError

FIXABLE_ERRORS = (ConnectError, OperationError, UnknownOrgError, NotConnectedError, SecretKeyError)

Handler = Callable[..., int]


def fixable(handler: Handler) -> Handler:
    """Report the errors an operator can fix as `error: <what to fix>` (exit 2), no traceback."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            return handler(*args, **kwargs)
        except FIXABLE_ERRORS as exc:
            raise OperatorError(str(exc)) from None

    return wrapper


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


def add_org_command(subparsers: argparse._SubParsersAction, name: str, handler: Handler,
                    help_text: str) -> argparse.ArgumentParser:
    """A sub-command taking `--org ID`, wired to `handler`; returns its parser for more options."""
    parser = subparsers.add_parser(name, help=help_text)
    parser.add_argument("--org", required=True, help="org id")
    parser.set_defaults(handler=handler)
    return parser
