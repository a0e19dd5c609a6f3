"""`dev` (behind `make dev`): the Dagster UI on the demo data, with a Mailchimp emulator running;
`emulator`: the emulator alone.

The demo's emulator lived in memory and died with `make demo`, so `dev` starts a new one in a
subprocess, seeds the demo dataset again and connects every demo org to it
(`mc_pipelines.demo.run.setup_demo`), on a freshly emptied demo instance: no run loads a step
output of the previous dataset. The instance's `dagster.yaml` carries the production run queue
(one run per org; see `mc_pipelines.demo.environment`). `dagster dev` then loads `workspace.yaml`
(code location `mc_pipelines`) as a child process (not `exec`), so the emulator is stopped when
the UI stops.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from mailchimp_emulator.harness import EmulatorServer
    from mc_pipelines.demo.run import OrgDemo

WORKSPACE_YAML = "workspace.yaml"


def workspace_args() -> list[str]:
    """The `-w <checkout>/workspace.yaml` arguments every `dagster` command of the UI takes."""
    from mc_pipelines.demo.environment import checkout_file

    return ["-w", str(checkout_file(WORKSPACE_YAML))]


def dagster_command(*args: str) -> list[str]:
    """A `dagster` command line in this environment. `-W ignore::FutureWarning`: the `dagster`
    CLI announces that `dg` supersedes its commands (a SupersessionWarning, a FutureWarning);
    the processes it starts load the definitions, which hide Dagster's notices themselves."""
    return [sys.executable, "-W", "ignore::FutureWarning", "-m", "dagster", *args]


def ui_command(host: str, port: int) -> list[str]:
    """The `dagster dev` command line for this project."""
    return dagster_command("dev", *workspace_args(), "-h", host, "-p", str(port))


def prepare_dev(server: EmulatorServer) -> list[OrgDemo]:
    """Everything `dev` does before the UI starts (the browser test does the same): point the app
    at the emulator `server`, then seed the demo dataset and connect every org on a freshly
    emptied demo instance whose dagster.yaml carries the production run queue; returns the orgs."""
    from mc_pipelines.demo.run import setup_demo

    os.environ["MC_MAILCHIMP_BASE_URL"] = server.base_url_template
    return setup_demo(server)


@click.command("dev", help="the Dagster UI on the demo data, with the emulator running")
@click.option("--host", default="127.0.0.1", help="UI host (default 127.0.0.1)")
@click.option("--port", type=int, default=3000, help="UI port (default 3000)")
@click.option("--no-ui", is_flag=True,
              help="prepare and start the emulator, print the UI command, and stop (for checks)")
def cmd_dev(host: str, port: int, no_ui: bool) -> int:
    """Seed the demo on a fresh instance, start the emulator, then run the Dagster UI until Ctrl-C."""
    from mailchimp_emulator.harness import EmulatorServer

    command = ui_command(host, port)  # refuses before anything starts outside a checkout
    with EmulatorServer(mode="process") as server:
        print(f"Mailchimp emulator on {server.base_url_template}")
        prepare_dev(server)
        print(f"demo orgs connected to the emulator; DAGSTER_HOME={os.environ['DAGSTER_HOME']} "
              "(emptied: a fresh instance for this dataset, one run per org at a time)")
        if no_ui:
            print("would run: " + " ".join(command))
            return 0
        ui = subprocess.Popen(command)
        try:
            return ui.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the UI too (same process group)
            return ui.wait()


@click.command("emulator", add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
               help="the Mailchimp emulator on loopback until Ctrl-C (flags: `mc-pipelines emulator "
                    "--help`; the same as `python -m mailchimp_emulator`)")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def cmd_emulator(args: tuple[str, ...]) -> int:
    """Run the emulator's own command line (its flags are parsed by `mailchimp_emulator.cli`)."""
    from mailchimp_emulator.cli import main as emulator_main

    try:
        return emulator_main(list(args), prog="mc-pipelines emulator")
    except SystemExit as exit_:  # `--help` and a bad flag end the emulator's command line this way
        if isinstance(exit_.code, int) or exit_.code is None:
            return exit_.code or 0
        click.echo(f"error: {exit_.code}", err=True)  # a message: a flag out of its range
        return 2


COMMANDS = [cmd_dev, cmd_emulator]
