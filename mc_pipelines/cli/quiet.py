"""Dagster's feature-maturity notices (BetaWarning, PreviewWarning, SupersessionWarning) are meant
for the project's developers — the test suite and `dagster definitions validate` still show
them — not for the operator reading a command's output. Every other warning, and every error,
is shown as before."""

from __future__ import annotations

import warnings

from dagster import BetaWarning, PreviewWarning, SupersessionWarning

NOTICES: tuple[type[Warning], ...] = (BetaWarning, PreviewWarning, SupersessionWarning)


def hide_dagster_notices() -> None:
    """Ignore Dagster's beta/preview/supersession notices in this process (nothing else)."""
    for category in NOTICES:
        warnings.filterwarnings("ignore", category=category)
