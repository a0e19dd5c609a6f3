"""`mc-pipelines`: the operator's command line.

Each module holds its own commands (click); a command returns an exit code and prints
human-readable lines. Errors the operator can fix (`FixableError`, and the Mailchimp client's
key-format error) are printed as one line saying what to fix (exit 2); any other error is one
`error:` line too (exit 1, its traceback only with `--verbose`). Secrets are never printed
except a webhook secret, once, when it is generated.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from mc_pipelines.cli.support import CliState, verbose_option
from mc_pipelines.errors import FixableError
from mc_pipelines.mailchimp.errors import InvalidApiKeyFormat
from mc_pipelines.notices import hide_dagster_notices

hide_dagster_notices()  # before the commands import the asset definitions, which emit them

from mc_pipelines.cli import (
    bench,
    campaigns,
    connections,
    consent,
    database,
    demo,
    dev,
    discovery,
    outcomes,
    runs,
    segments,
    serve,
    spreadsheets,
    webhooks,
)

MODULES = [database, connections, discovery, runs, outcomes, segments, campaigns, consent,
           spreadsheets, webhooks, serve, demo, dev, bench]

#: Errors whose message says what the operator must fix: one line, exit code 2.
FIXABLE = (FixableError, InvalidApiKeyFormat)


def _one_line(text: str) -> str:
    return " ".join(text.split())


class OperatorGroup(click.Group):
    """The command group; the one place where a command's errors become an `error:` line."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; report its error as one line and exit 2 (fixable) or 1."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except FIXABLE as exc:
            click.echo(f"error: {_one_line(str(exc))}", err=True)
            raise click.exceptions.Exit(2) from None
        except Exception as exc:
            if ctx.ensure_object(CliState).verbose:
                traceback.print_exc(file=sys.stderr)
            message = _one_line(str(exc))
            click.echo(f"error: {type(exc).__name__}" + (f": {message}" if message else ""), err=True)
            raise click.exceptions.Exit(1) from None


@click.group(cls=OperatorGroup, name="mc-pipelines", help=__doc__.splitlines()[0],
             context_settings={"help_option_names": ["-h", "--help"]})
@verbose_option("print the traceback of an unexpected error")
def cli(verbose: bool) -> None:
    """`mc-pipelines`: the operator's command line."""


for _module in MODULES:
    for _command in _module.COMMANDS:
        _command.short_help = _command.short_help or _command.help  # listed whole, not cut
        cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mc-pipelines` console script; returns the exit code."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="mc-pipelines",
                        standalone_mode=False, obj=CliState())
    except click.ClickException as exc:  # usage errors: the message and exit 2, as before
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 1
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
