"""Reading import files: CSV and XLSX into header and rows of text, within bounds, and a
row's text into a service's arguments, with plain words for what is wrong."""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from webapp.imports.parsing import UnreadableFile, sheet_read
from webapp.imports.records import LOTS, RowRefused, header_key
from webapp.limits import MAX_IMPORT_CELL_LENGTH, MAX_IMPORT_ROWS

pytestmark = pytest.mark.unit


def xlsx(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_a_csv_is_read_with_its_row_numbers_and_blank_rows_left_out() -> None:
    content = "\ufeffName,Quantity,Unit\r\nOre,12,kg\r\n,,\r\nSlag, 3 ,t\r\n".encode()
    sheet = sheet_read(name="lots.csv", content=content)
    assert sheet.headers == ["Name", "Quantity", "Unit"]
    assert sheet.rows == [(2, ["Ore", "12", "kg"]), (4, ["Slag", "3", "t"])]


def test_a_semicolon_csv_from_a_european_spreadsheet_is_read() -> None:
    sheet = sheet_read(name="lots.csv", content=b'name;quantity;unit\n"Ore; washed";12;kg\n')
    assert sheet.rows == [(2, ["Ore; washed", "12", "kg"])]


def test_an_xlsx_sheet_is_read_as_the_text_a_csv_would_hold() -> None:
    content = xlsx(
        [
            ["name", "quantity", "valid_from", "share", None],
            ["Ore", 12.0, datetime(2026, 3, 1), 0.25, None],
            [None, None, None, None, None],
            ["Slag", 7, date(2026, 3, 2), "=1+1", None],
        ]
    )
    sheet = sheet_read(name="lots.xlsx", content=content)
    assert sheet.headers[:4] == ["name", "quantity", "valid_from", "share"]
    assert [cells[:4] for _, cells in sheet.rows] == [
        ["Ore", "12", "2026-03-01", "0.25"],
        # a formula is never evaluated: written without a saved value, it reads as nothing
        ["Slag", "7", "2026-03-02", ""],
    ]
    assert [n for n, _ in sheet.rows] == [2, 4]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("lots.csv", b"", "The file is empty."),
        ("lots.csv", b"name,quantity,unit\n", "a header row but no rows"),
        ("lots.xlsx", b"PK\x03\x04 not really a zip", "not a readable .xlsx workbook"),
        ("lots.xls", b"\xd0\xcf\x11\xe0 old", "Old .xls workbooks are not read"),
        ("lots.pdf", b"%PDF-1.7", "Upload a .csv or .xlsx file."),
        ("lots.csv", "name\nMüller".encode("latin-1"), "not UTF-8 text"),
        ("lots.csv", b"name\x00,quantity\n", "binary data"),
        ("lots.csv", b'name,quantity\n"unterminated,1\n' + b"x" * 200_000, "malformed"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_in_plain_words(
    name: str, content: bytes, reason: str
) -> None:
    with pytest.raises(UnreadableFile) as refused:
        sheet_read(name=name, content=content)
    assert reason in str(refused.value)


def test_too_many_rows_too_long_cells_and_too_large_files_are_refused() -> None:
    rows = "name,quantity,unit\n" + "Ore,1,kg\n" * (MAX_IMPORT_ROWS + 1)
    with pytest.raises(UnreadableFile, match="more than 10,000 rows"):
        sheet_read(name="lots.csv", content=rows.encode())
    exactly = "name,quantity,unit\n" + "Ore,1,kg\n" * MAX_IMPORT_ROWS
    assert len(sheet_read(name="lots.csv", content=exactly.encode()).rows) == MAX_IMPORT_ROWS
    long_cell = "name,quantity\n" + "x" * (MAX_IMPORT_CELL_LENGTH + 1) + ",1\n"
    with pytest.raises(UnreadableFile, match="Row 2, column 1 holds more than"):
        sheet_read(name="lots.csv", content=long_cell.encode())
    with pytest.raises(UnreadableFile, match="larger than 10 MB"):
        sheet_read(name="lots.csv", content=b"name\n" + b"x" * (10 * 2**20))


def test_headers_match_whatever_their_case_and_spacing() -> None:
    assert header_key(" Lot ID ") == "lot_id"
    assert header_key("CO2e g per unit") == "co2e_g_per_unit"
    assert header_key("valid-from") == "valid_from"


def test_a_lot_row_reports_every_column_that_cannot_be_read() -> None:
    with pytest.raises(RowRefused) as refused:
        LOTS.parse({"name": "", "quantity": "ten", "unit": "kg", "kind": "gas"})
    assert refused.value.errors == {
        "name": "is empty",
        "quantity": "must be a whole number, got 'ten'",
        "kind": "must be raw_material, component or product, got 'gas'",
    }
    parsed = LOTS.parse({"name": "Ore", "quantity": "1 200", "unit": "kg", "kind": "Product"})
    assert parsed.arguments["quantity"] == 1200
    assert parsed.canonical["kind"] == 3


def test_the_import_pages_carry_no_inline_script_style_or_event_handler() -> None:
    # The content security policy refuses inline code (webapp/security.py).
    templates = list((Path(__file__).resolve().parents[2] / "webapp/imports").rglob("*.html"))
    assert len(templates) >= 3
    for template in templates:
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", text), template
