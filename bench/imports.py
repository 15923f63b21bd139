"""Batch import throughput: a 10,000-row lot register read, checked and queued.

1. Starts anvil, deploys the system and registers one organisation (a miner) on it.
2. Writes a CSV and an XLSX register of --rows lots (every 50th row has an unreadable
   quantity) and prints ``read_csv: N rows/s`` and ``read_xlsx: N rows/s`` (reading the
   file into rows, `webapp.imports.parsing.sheet_read`).
3. Uploads the CSV as the portal and the API do (`import_create`, the dry run run here
   instead of in a worker) and prints ``dry_run: N rows/s``: every readable row goes
   through `lot_register` with its pre-flight ``eth_call`` against the node, inside a
   transaction that is rolled back.
4. Submits the valid rows (`import_submit_request`, only the valid ones) and prints
   ``queue: N rows/s`` (one operation per row, in one database transaction).

    python bench/imports.py [--rows 10000]

Uses the database in DATABASE_URL (default postgres://postgres@127.0.0.1:5432/
provenant_bench_imports, dropped and recreated).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/provenant_bench_imports")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

from bench.participant import participant_on_fresh_chain

GTIN = "4006381333931"


def register_csv(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "quantity", "unit", "kind", "gtin", "batch", "co2e_g_per_unit"])
    for i in range(rows):
        quantity = "n/a" if i % 50 == 49 else str(100 + i)
        writer.writerow([f"Drum {i}", quantity, "kg", "raw_material", GTIN, f"B{i}", i % 9])
    return out.getvalue().encode()


def register_xlsx(content: bytes) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for row in csv.reader(io.StringIO(content.decode())):
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f} rows/s ({seconds:.2f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()

    from contracts.chain.domain import Role

    with participant_on_fresh_chain(name="Bench Mine", role=int(Role.MINER)) as organisation:
        from webapp.imports.models import ImportJob
        from webapp.imports.parsing import sheet_read
        from webapp.imports.services import import_create, import_submit_request

        content = register_csv(args.rows)
        workbook = register_xlsx(content)
        started = time.perf_counter()
        sheet = sheet_read(name="register.csv", content=content)
        print(f"read_csv: {rate(len(sheet.rows), time.perf_counter() - started)}")
        started = time.perf_counter()
        sheet = sheet_read(name="register.xlsx", content=workbook)
        print(f"read_xlsx: {rate(len(sheet.rows), time.perf_counter() - started)}")

        started = time.perf_counter()
        job = import_create(
            organisation=organisation, record_type="lots", file_name="register.csv", content=content
        )
        elapsed = time.perf_counter() - started
        if job.status != ImportJob.Status.VALIDATED or job.checked_count != args.rows:
            raise SystemExit(f"the dry run did not finish: {job.status}, {job.checked_count}")
        print(f"dry_run: {rate(job.row_count, elapsed)}")
        print(f"rows_valid: {job.valid_count:,}, rows_invalid: {job.error_count:,}")

        started = time.perf_counter()
        job = import_submit_request(job=job, only_valid=True)
        elapsed = time.perf_counter() - started
        if job.status != ImportJob.Status.SUBMITTED:
            raise SystemExit(f"the submission did not finish: {job.status} {job.error}")
        print(f"queue: {rate(job.valid_count, elapsed)}")


if __name__ == "__main__":
    main()
