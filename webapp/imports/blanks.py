"""The downloadable templates: one per record type, as CSV or XLSX, with the header row a
file must have (the XLSX explains each column on a second sheet, which imports ignore)."""

from __future__ import annotations

import csv
import io

from webapp.imports.records import RecordType


def template_csv(record: RecordType) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(record.column_names)
    return out.getvalue()


def template_xlsx(record: RecordType) -> bytes:
    """The header row on the first sheet (the one an import reads) and what each column
    means on a second one."""
    from openpyxl import Workbook  # a heavy import, only for the files that need it
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = record.slug
    sheet.append(record.column_names)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index, column in enumerate(record.columns):
        sheet.column_dimensions[chr(ord("A") + index)].width = max(14, len(column.name) + 4)
    about = workbook.create_sheet("columns")
    about.append(["column", "required", "meaning", "example"])
    for column in record.columns:
        about.append([column.name, "yes" if column.required else "no", column.help, column.example])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
