"""Data-quality checks built on the pandera schemas (used by the assets' asset checks)."""

from __future__ import annotations

import pandas as pd
import pandera.errors as pa_errors

from mc_pipelines.schemas import CohortSchema


def cohort_failures(cohort: pd.DataFrame) -> pd.DataFrame:
    """Every pandera failure case of the cohort (empty when valid): column, check, index, value."""
    try:
        CohortSchema.validate(cohort, lazy=True, inplace=True)  # no million-row copy
    except pa_errors.SchemaErrors as exc:
        cases = exc.failure_cases
        keep = [c for c in ("column", "check", "index", "failure_case") if c in cases.columns]
        return cases[keep].astype(str).reset_index(drop=True)
    return pd.DataFrame(columns=["column", "check", "index", "failure_case"])
