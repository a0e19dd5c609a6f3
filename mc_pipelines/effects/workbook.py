"""Spreadsheet files of the export and the import: CSV and XLSX written atomically and safe from
formula injection, and read back within bounds (`sync.sheet_format` holds the format).

Reading refuses, before parsing, a file over `max_bytes`, and while parsing one over `max_rows`
rows or `MAX_COLUMNS` columns, with a `FixableError` naming the fix. Every cell is read as text
(`""` for an empty one), so nothing the file holds is interpreted as a number or a date.
"""

from __future__ import annotations

import csv
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.utils.exceptions import InvalidFileException

from mc_pipelines.errors import FixableError
from mc_pipelines.sync.sheet_format import escape_frame, unescape_cell

MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
MAX_COLUMNS = 1_000
SHEET_NAME = "contacts"


class WorkbookError(FixableError):
    """The file cannot be read as a contacts workbook; the message says what to fix."""


# -- writing -----------------------------------------------------------------------------------
def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same directory, so readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """`frame` as CSV (UTF-8), every text cell escaped against formula injection."""
    escape_frame(frame).to_csv(path, index=False)


def _excel_cell(sheet, value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if not isinstance(value, str):
        return value.item() if isinstance(value, np.generic) else value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if value.startswith("=") or value in ERROR_CODES:
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # text, never a formula or an error value
        return cell
    return value


def write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """`frame` as a one-sheet workbook (streamed with openpyxl's write-only mode); every text is a
    text cell, never a formula."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(SHEET_NAME)
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        sheet.append([_excel_cell(sheet, v) for v in row])
    book.save(path)


# -- reading -----------------------------------------------------------------------------------
def read_workbook(path: str | Path, *, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """The first sheet of an `.xlsx` or a `.csv` file as text cells (header = first row)."""
    path = Path(path)
    if not path.is_file():
        raise WorkbookError(f"{path} is not a file: give the path of the exported .xlsx or .csv")
    size = path.stat().st_size
    if size > max_bytes:
        raise WorkbookError(f"{path.name} is {size} bytes, over the limit of {max_bytes}: split the "
                            "file, or import the CSV export (smaller than the XLSX)")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(path)
    elif suffix in (".xlsx", ".xlsm"):
        rows = _xlsx_rows(path)
    else:
        raise WorkbookError(f"{path.name}: only .xlsx and .csv files can be imported (save the "
                            "sheet in one of those formats)")
    return _frame(path.name, rows, max_rows)


def _csv_rows(path: Path) -> Iterator[list[str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            yield from csv.reader(handle, strict=True)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise WorkbookError(f"{path.name} is not a readable UTF-8 CSV ({exc}): save it again as "
                            "CSV UTF-8") from None


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise WorkbookError(f"{path.name} is not a readable Excel workbook ({type(exc).__name__}): "
                            "save it again as .xlsx, or export the sheet as CSV") from None
    try:
        sheet = book[SHEET_NAME] if SHEET_NAME in book.sheetnames else book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield ["" if v is None else _text(v) for v in row]
    finally:
        book.close()


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _frame(name: str, rows: Iterator[list[str]], max_rows: int) -> pd.DataFrame:
    header: list[str] | None = None
    body: list[list[str]] = []
    for row in rows:
        if header is None:
            header = [str(c).strip() for c in row]
            while header and not header[-1]:
                header.pop()
            if len(header) > MAX_COLUMNS:
                raise WorkbookError(f"{name} has {len(header)} columns, over the limit of "
                                    f"{MAX_COLUMNS}: remove the tag columns you do not change")
            continue
        if not any(str(c).strip() for c in row):
            continue  # blank lines (Excel keeps formatted empty rows)
        if len(body) >= max_rows:
            raise WorkbookError(f"{name} has more than {max_rows} rows: split it into several "
                                "files and import them one by one")
        body.append([unescape_cell(str(c)) for c in row[:len(header)]] +
                    [""] * (len(header) - len(row)))
    if not header:
        raise WorkbookError(f"{name} is empty: import the file the contacts export wrote, with "
                            "its header row")
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        raise WorkbookError(f"{name} has several columns named {', '.join(map(repr, duplicates))}: "
                            "keep one of each")
    if "" in header:
        raise WorkbookError(f"{name} has a column without a header (column "
                            f"{header.index('') + 1}): name it or delete it")
    return pd.DataFrame(body, columns=header, dtype=object)
