"""Reads of imports: an organisation's jobs, one job's rows and progress, its result file."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any
from uuid import UUID

from django.db.models import Q, QuerySet

from webapp.imports.models import ImportJob, ImportRow
from webapp.operations.models import Operation
from webapp.operations.selectors import operation_reason_for_user
from webapp.organisations.models import Organisation


def import_list(*, organisation: Organisation) -> QuerySet[ImportJob]:
    """The organisation's imports, newest first."""
    return ImportJob.objects.filter(organisation=organisation)


def import_of(*, organisation: Organisation, job_id: UUID | str) -> ImportJob | None:
    """One of the organisation's imports (None for another organisation's, or no such id)."""
    try:
        UUID(str(job_id))
    except ValueError:
        return None
    return ImportJob.objects.filter(id=job_id, organisation=organisation).first()


def import_by_key(*, organisation: Organisation, idempotency_key: str) -> ImportJob | None:
    if not idempotency_key:
        return None
    return ImportJob.objects.filter(
        organisation=organisation, idempotency_key=idempotency_key
    ).first()


def import_rows(*, job: ImportJob, errors_only: bool = False) -> QuerySet[ImportRow]:
    rows = job.rows.select_related("operation")
    if errors_only:
        rows = rows.exclude(error="")
    return rows


def operation_by_key(*, organisation: Organisation, idempotency_key: str) -> Operation | None:
    """The operation an earlier request with this idempotency key created, if any."""
    return Operation.objects.filter(
        organisation=organisation, idempotency_key=idempotency_key
    ).first()


def receiver_by_name_or_slug(*, text: str) -> Organisation | None:
    """An organisation on the chain, by its short name (slug) or its name, any case."""
    return (
        Organisation.objects.exclude(address="")
        .filter(Q(slug__iexact=text) | Q(name__iexact=text))
        .order_by("pk")
        .first()
    )


#: The phase a person sees: the job's status, and "done" once every operation is final.
DONE = "done"


def import_progress(*, job: ImportJob) -> dict[str, Any]:
    """What the job page polls: the phase, how far the check or the queueing has come, and
    its rows' operations by status (queued counts submitted and mined too)."""
    statuses = Counter(
        job.rows.filter(operation__isnull=False).values_list("operation__status", flat=True)
    )
    in_flight = sum(
        statuses[s]
        for s in (Operation.Status.QUEUED, Operation.Status.SUBMITTED, Operation.Status.MINED)
    )
    operations = sum(statuses.values())
    phase = job.status
    if job.status == ImportJob.Status.SUBMITTED and in_flight == 0:
        phase = DONE
    return {
        "id": str(job.id),
        "status": job.status,
        "phase": phase,
        # A failed submission may have queued rows before it stopped: they go on.
        "final": phase == DONE or (phase == ImportJob.Status.FAILED and in_flight == 0),
        "rows": job.row_count,
        "checked": job.checked_count,
        "valid": job.valid_count,
        "invalid": job.error_count,
        "already_imported": job.already_count,
        "operations": operations,
        "queued": in_flight,
        "confirmed": statuses[Operation.Status.CONFIRMED],
        "failed": statuses[Operation.Status.FAILED],
        "error": job.error,
    }


def row_state(row: ImportRow) -> str:
    """One word for a row: pending, invalid, valid, already imported, or its operation's
    status."""
    if row.operation is not None:
        return str(row.operation.status)
    if row.error:
        return "invalid"
    if not row.checked:
        return "pending"
    return "already imported" if row.already_imported else "valid"


def row_error(row: ImportRow) -> str:
    """The row's problem: its own error, or why its operation failed."""
    if row.error:
        return row.error
    if row.operation is not None and row.operation.status == Operation.Status.FAILED:
        return operation_reason_for_user(row.operation.error)
    return ""


RESULT_COLUMNS = [
    "row",
    "state",
    "lot_id",
    "operation_id",
    "transaction_hash",
    "already_imported",
    "error",
]


def import_result_csv(*, job: ImportJob) -> str:
    """The result file: one line per row, machine-readable (raw ids and statuses)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(RESULT_COLUMNS)
    for row in import_rows(job=job).iterator(chunk_size=1000):
        operation = row.operation
        writer.writerow(
            [
                row.number,
                row_state(row),
                int(row.lot_id) if row.lot_id is not None else "",
                str(operation.id) if operation else "",
                operation.transaction_hash if operation else "",
                "yes" if row.already_imported else "no",
                _safe_cell(row_error(row)),
            ]
        )
    return out.getvalue()


def _safe_cell(text: str) -> str:
    """Text a spreadsheet program would not run as a formula when it opens the file."""
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text
