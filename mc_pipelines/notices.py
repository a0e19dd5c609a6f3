"""Dagster's feature-maturity notices (BetaWarning, PreviewWarning, SupersessionWarning).

The project uses a few beta/preview features on purpose (partitioned asset-check specs, the
pandera column schema, code references); Dagster then prints a notice for each use every time
the definitions load, which buries the output operators read. The CLI entry point and the code
location (`definitions.py`, loaded by the code server and every run worker) hide them; every
other warning, and every error, is shown as before. The test suite ignores them in
`pyproject.toml` (`filterwarnings`)."""

from __future__ import annotations

import warnings

from dagster import BetaWarning, PreviewWarning, SupersessionWarning

NOTICES: tuple[type[Warning], ...] = (BetaWarning, PreviewWarning, SupersessionWarning)


def hide_dagster_notices() -> None:
    """Ignore Dagster's beta/preview/supersession notices in this process (nothing else)."""
    for category in NOTICES:
        warnings.filterwarnings("ignore", category=category)
