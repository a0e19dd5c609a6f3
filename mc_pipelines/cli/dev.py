"""`dev` (behind `make dev`): the Dagster UI on the demo data, with a Mailchimp emulator running.

The demo's emulator lived in memory and died with `make demo`, so a new one is started in a
subprocess and, when the demo data exist, the demo orgs are connected to it again
(`mc_pipelines.demo.run.setup_demo`, when available). `dagster dev` then runs as a child process
(not `exec`), so the emulator is stopped when the UI stops.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import click

from mc_pipelines.config import DATA_DIR

if TYPE_CHECKING:
    from mailchimp_emulator.harness import EmulatorServer


def ui_command(host: str, port: int) -> list[str]:
    """The `dagster dev` command line for this project."""
    return [sys.executable, "-m", "dagster", "dev", "-m", "mc_pipelines.definitions",
            "-h", host, "-p", str(port)]


def _reconnect_demo(server: EmulatorServer) -> None:
    from mc_pipelines.demo import run as demo_run

    os.environ["MC_MAILCHIMP_BASE_URL"] = server.base_url_template
    setup_demo = getattr(demo_run, "setup_demo", None)
    if setup_demo is None:
        print("demo data found, but this version has no demo setup to reconnect the orgs: "
              "the UI starts on the existing data")
        return
    setup_demo(server)
    print("demo orgs connected to the new emulator")


@click.command("dev", help="the Dagster UI on the demo data, with the emulator running")
@click.option("--host", default="127.0.0.1", help="UI host (default 127.0.0.1)")
@click.option("--port", type=int, default=3000, help="UI port (default 3000)")
@click.option("--no-ui", is_flag=True,
              help="prepare and start the emulator, print the UI command, and stop (for checks)")
def cmd_dev(host: str, port: int, no_ui: bool) -> int:
    """Prepare the demo environment, start the emulator, then run the Dagster UI until Ctrl-C."""
    from mailchimp_emulator.harness import EmulatorServer
    from mc_pipelines.demo.environment import prepare_demo_environment

    dagster_home = prepare_demo_environment()
    with EmulatorServer(mode="process") as server:
        print(f"Mailchimp emulator on {server.base_url_template}")
        if (DATA_DIR / "app.db").exists():
            _reconnect_demo(server)
        else:
            print("no demo data in .data/app.db: run `make demo` first for a populated UI")
        command = ui_command(host, port)
        print(f"DAGSTER_HOME={dagster_home}")
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
