"""CLI commands: webhooks (filled in by its issue)."""

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands."""
