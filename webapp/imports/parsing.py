"""Read an uploaded CSV or XLSX file into a header and rows of text, within bounds.

Nothing here knows record types: it turns bytes into cells or refuses the file with a
sentence a person can act on (UnreadableFile). Formulas are never evaluated: an XLSX
formula cell reads as the value the spreadsheet program saved with it (none: empty).
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from webapp.formatting import number
from webapp.limits import (
    MAX_IMPORT_BYTES,
    MAX_IMPORT_CELL_LENGTH,
    MAX_IMPORT_COLUMNS,
    MAX_IMPORT_ROWS,
    MAX_IMPORT_UNPACKED_BYTES,
)


class UnreadableFile(Exception):
    """The file cannot be imported at all; the message says why in plain words."""


@dataclass
class Sheet:
    headers: list[str]
    #: (the row's number in the spreadsheet, its cells as text); blank rows are left out.
    rows: list[tuple[int, list[str]]] = field(default_factory=list)


XLSX_MAGIC = b"PK\x03\x04"


def sheet_read(*, name: str, content: bytes) -> Sheet:
    """The file's first sheet (XLSX) or its text (CSV, UTF-8, comma, semicolon or tab)."""
    if len(content) > MAX_IMPORT_BYTES:
        raise UnreadableFile(
            f"The file is larger than {number(MAX_IMPORT_BYTES // 2**20)} MB; split it."
        )
    if not content.strip():
        raise UnreadableFile("The file is empty.")
    lowered = name.lower()
    if lowered.endswith(".xls") or content.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnreadableFile("Old .xls workbooks are not read; save the sheet as .xlsx or CSV.")
    if lowered.endswith(".xlsx") or content.startswith(XLSX_MAGIC):
        cells = _xlsx_rows(content)
    elif lowered.endswith((".csv", ".txt")) or not lowered.rpartition(".")[1]:
        cells = _csv_rows(content)
    else:
        raise UnreadableFile("Upload a .csv or .xlsx file.")
    return _sheet(cells)


def _sheet(cells: Any) -> Sheet:
    sheet: Sheet | None = None
    for number_, row in cells:
        if len(row) > MAX_IMPORT_COLUMNS and any(c for c in row[MAX_IMPORT_COLUMNS:]):
            raise UnreadableFile(
                f"Row {number_} has more than {MAX_IMPORT_COLUMNS} columns; keep only the"
                " template's."
            )
        row = row[:MAX_IMPORT_COLUMNS]
        for index, cell in enumerate(row):
            if len(cell) > MAX_IMPORT_CELL_LENGTH:
                raise UnreadableFile(
                    f"Row {number_}, column {index + 1} holds more than"
                    f" {number(MAX_IMPORT_CELL_LENGTH)} characters."
                )
        if not any(cell.strip() for cell in row):
            continue
        if sheet is None:
            sheet = Sheet(headers=[cell.strip() for cell in row])
            continue
        if len(sheet.rows) == MAX_IMPORT_ROWS:
            raise UnreadableFile(
                f"The file has more than {number(MAX_IMPORT_ROWS)} rows; split it into"
                " several files."
            )
        sheet.rows.append((number_, [cell.strip() for cell in row]))
    if sheet is None:
        raise UnreadableFile("The file has no header row.")
    if not sheet.rows:
        raise UnreadableFile("The file has a header row but no rows to import.")
    return sheet


def _csv_rows(content: bytes) -> Any:
    if b"\x00" in content:
        raise UnreadableFile("The file holds binary data, not CSV text.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            'The file is not UTF-8 text; save it as "CSV UTF-8" (comma delimited).'
        ) from exc
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        raise UnreadableFile(f"The CSV text is malformed near line {reader.line_num}.") from exc


def _xlsx_rows(content: bytes) -> Any:
    from openpyxl import load_workbook  # a heavy import, only for the files that need it

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UnreadableFile("The file is not a readable .xlsx workbook.") from exc
    if unpacked > MAX_IMPORT_UNPACKED_BYTES:
        raise UnreadableFile("The workbook unpacks to too much data; keep one sheet of rows.")
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        raise UnreadableFile("The file is not a readable .xlsx workbook.") from exc
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise UnreadableFile("The workbook has no sheet.")
        rows = sheet.iter_rows(max_col=MAX_IMPORT_COLUMNS + 1, values_only=True)
        for index, values in enumerate(rows, start=1):
            yield index, [_cell_text(value) for value in values]
    except UnreadableFile:
        raise
    except Exception as exc:
        raise UnreadableFile("The workbook's sheet cannot be read.") from exc
    finally:
        workbook.close()


def _cell_text(value: Any) -> str:
    """A cell as the text a CSV export would hold: whole numbers without ".0", dates ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Decimal | int):
        return str(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time.min else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)
