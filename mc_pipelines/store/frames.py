"""Fast reads of org-scoped tables into DataFrames and portable bulk upserts."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from mc_pipelines.store.db import is_postgres


def read_frame(
    engine: Engine, sql: str, params: dict[str, Any], columns: Sequence[str],
    *, text_columns: Sequence[str] = (), bool_columns: Sequence[str] = (),
    json_columns: Sequence[str] = (), datetime_columns: Sequence[str] = (),
    chunk_rows: int = 200_000,
) -> pd.DataFrame:
    """Run `sql` (named `:params`, selecting exactly `columns`) into a typed DataFrame.

    PostgreSQL streams the result with COPY as CSV (about 10x faster than fetching rows at a
    million rows); SQLite is read in chunks. Text NULLs become None, JSON columns Python objects
    (NULL → []). JSON columns hold few distinct values (tag lists): each distinct text is parsed
    once and the rows holding it share that object, which also makes the frame cheap to pickle
    between assets — treat the cells as read-only (copy a list before changing it).
    """
    if is_postgres(engine):
        # COPY takes no bind parameters: inline them as literals, safely quoted by the dialect.
        compiled = sa.text(sql).bindparams(**params).compile(
            dialect=engine.dialect, compile_kwargs={"literal_binds": True}
        )
        buf = io.BytesIO()
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur, cur.copy(
                f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv, HEADER true)"
            ) as copy:
                for block in copy:
                    buf.write(block)
        finally:
            raw.close()
        buf.seek(0)
        frame = pd.read_csv(
            buf, dtype={c: object for c in [*text_columns, *bool_columns, *json_columns]},
            keep_default_na=False, na_values={c: [""] for c in columns},
        )
        for col in bool_columns:
            frame[col] = frame[col].eq("t")
    else:
        with engine.connect() as conn:
            chunks = list(pd.read_sql(sa.text(sql), conn, params=params, chunksize=chunk_rows))
        frame = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=list(columns))
        for col in bool_columns:
            frame[col] = frame[col].fillna(0).astype(bool)
    if list(frame.columns) != list(columns):  # reindex copies every column: only when needed
        frame = frame.reindex(columns=list(columns))
    for col in text_columns:
        values = frame[col].to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = None
        frame[col] = values
    for col in json_columns:
        frame[col] = _parse_json_column(frame[col])
    for col in datetime_columns:
        frame[col] = pd.to_datetime(frame[col], format="ISO8601")
    if isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 and frame.index.step == 1:
        return frame
    return frame.reset_index(drop=True)


def _parse_json_column(values: pd.Series) -> pd.Series:
    """JSON text → Python objects, parsing each distinct text once (see `read_frame`)."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    parsed = np.empty(len(uniques) + 1, dtype=object)  # element-wise: lists must stay cells
    for i, text in enumerate(uniques.tolist()):
        parsed[i] = [] if text == "[]" else json.loads(text)
    parsed[-1] = []  # code -1: NULL
    return pd.Series(parsed[codes], index=values.index, dtype=object)


def upsert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]],
           update_columns: Sequence[str], chunk_rows: int = 2_000) -> None:
    """Insert `rows` into `table`, updating `update_columns` on primary-key conflict (PG and SQLite)."""
    if not rows:
        return
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    keys = [c.name for c in table.primary_key.columns]
    for start in range(0, len(rows), chunk_rows):
        stmt = insert(table).values(rows[start:start + chunk_rows])
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={c: stmt.excluded[c] for c in update_columns}
        )
        conn.execute(stmt)
