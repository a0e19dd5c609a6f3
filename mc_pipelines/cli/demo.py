"""`demo`: the main job on embedded parts."""

from __future__ import annotations

import click


@click.command("demo", help="seed, start the emulator, sync every demo org, print a summary")
def cmd_demo() -> int:
    """Run the demo end to end."""
    from mc_pipelines.demo.run import run_demo

    return run_demo()


COMMANDS = [cmd_demo]
