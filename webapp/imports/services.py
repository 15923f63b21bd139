"""Writes of imports: take a file (its rows stored as read), check every row as the
submission would (the dry run), and queue one operation per row (all rows, or only the
valid ones), in the background.

The dry run calls the very service the submission calls (`lot_register`,
`handoff_initiate`, `certificate_issue`), pre-flight on the chain included, inside a
database transaction that is rolled back: what it refuses, the submission would refuse
with the same words, and it leaves nothing behind (no lot id, no metadata, no operation,
nothing dispatched).

Each row's operation carries an idempotency key made of the organisation, the record type
and the row's content (with its occurrence among identical rows of the file): the same
file uploaded again, or a corrected copy of it, names the operations its rows already
became, and nothing is queued twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from webapp.db_locks import LockBusy, advisory_lock
from webapp.formatting import number
from webapp.imports.models import ImportJob, ImportRow
from webapp.imports.parsing import Sheet, UnreadableFile, sheet_read
from webapp.imports.records import RECORD_TYPES, RecordType, RowRefused, columns_matched
from webapp.imports.selectors import import_by_key, operation_by_key
from webapp.operations.models import Operation
from webapp.operations.services import IdempotencyConflict, task_send_on_commit
from webapp.organisations.models import Organisation

log = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser | None

#: The workers' tasks, by the names they register under (the web app never imports them).
VALIDATE_TASK = "workers.tasks.import_validate"
SUBMIT_TASK = "workers.tasks.import_submit"

#: Rows checked between two updates of the job's counts (what the progress bar shows).
PROGRESS_EVERY = 100
#: Rows queued per database transaction (see `import_submit`).
QUEUE_CHUNK = 200


class _DryRun(Exception):
    """Raised to roll back what a checked row's service call wrote."""


def import_create(
    *,
    organisation: Organisation,
    record_type: str,
    file_name: str,
    content: bytes,
    user: User = None,
    submit: bool = False,
    only_valid: bool = False,
    idempotency_key: str = "",
) -> ImportJob:
    """Read the file, store its rows and start checking them (in the background).

    `submit` queues the rows once checked (all of them, refused as a whole if one is
    invalid; with `only_valid`, the valid ones). A file that cannot be read, a header
    that does not match the record type, or certificates from a non-certifier are refused
    with a ValidationError, and nothing is stored."""
    record = RECORD_TYPES.get(record_type)
    if record is None:
        raise ValidationError({"type": [f"Choose one of {', '.join(RECORD_TYPES)}."]})
    if not record.allowed(organisation):
        raise ValidationError({"type": [record.refusal(organisation)]})
    sha256 = hashlib.sha256(content).hexdigest()
    if idempotency_key:
        existing = import_by_key(organisation=organisation, idempotency_key=idempotency_key)
        if existing is not None:
            if (existing.file_sha256, existing.record_type) != (sha256, record.slug):
                raise IdempotencyConflict(
                    f"Idempotency-Key {idempotency_key!r} was already used for another file"
                    f" (import {existing.id})"
                )
            return existing
    try:
        sheet = sheet_read(name=file_name, content=content)
    except UnreadableFile as exc:
        raise ValidationError({"file": [str(exc)]}) from exc
    columns = columns_matched(record, sheet.headers)
    try:
        job = _job_store(
            organisation,
            record,
            file_name,
            sha256,
            sheet,
            columns,
            user,
            submit,
            only_valid,
            idempotency_key,
        )
    except IntegrityError:  # a concurrent upload with the same key committed first
        existing = import_by_key(organisation=organisation, idempotency_key=idempotency_key)
        if existing is None:
            raise
        return existing
    _dispatch(VALIDATE_TASK, job)
    job.refresh_from_db()
    return job


def _job_store(
    organisation: Organisation,
    record: RecordType,
    file_name: str,
    sha256: str,
    sheet: Sheet,
    columns: dict[int, str],
    user: User,
    submit: bool,
    only_valid: bool,
    idempotency_key: str,
) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.create(
            organisation=organisation,
            created_by=user if isinstance(user, get_user_model()) else None,
            record_type=record.slug,
            file_name=file_name[:255],
            file_sha256=sha256,
            idempotency_key=idempotency_key,
            submit_when_validated=submit,
            only_valid=only_valid,
            row_count=len(sheet.rows),
        )
        ImportRow.objects.bulk_create(
            [
                ImportRow(
                    job=job,
                    number=number_,
                    values={
                        name: cells[index] if index < len(cells) else ""
                        for index, name in columns.items()
                    },
                )
                for number_, cells in sheet.rows
            ],
            batch_size=1000,
        )
    return job


def _dispatch(task: str, job: ImportJob) -> None:
    """Hand a step to the workers, once the job is committed. Where the web app dispatches
    no tasks (OPERATIONS_DISPATCH off: the tests, a single-process demo) the step runs
    here and now."""
    job_id = str(job.id)
    if not settings.OPERATIONS_DISPATCH:
        {VALIDATE_TASK: import_validate, SUBMIT_TASK: import_submit}[task](job_id=job_id)
        return
    task_send_on_commit(task, job_id)


def imports_resume(*, stale_after_seconds: float = 120.0) -> int:
    """Send again the step of every job still validating or submitting that has not moved
    for `stale_after_seconds` (its worker died, or the broker lost the message). A step
    saves its progress every few seconds, and holds a lock while it runs: a job whose
    step is only slow is found busy and left alone. Returns how many were sent."""
    cutoff = timezone.now() - timedelta(seconds=stale_after_seconds)
    stale = ImportJob.objects.filter(
        status__in=[ImportJob.Status.VALIDATING, ImportJob.Status.SUBMITTING],
        updated_at__lt=cutoff,
    )
    sent = 0
    for job in stale[:50]:
        task = VALIDATE_TASK if job.status == ImportJob.Status.VALIDATING else SUBMIT_TASK
        ImportJob.objects.filter(id=job.id).update(updated_at=timezone.now())
        _dispatch(task, job)
        sent += 1
    return sent


# -- the dry run ---------------------------------------------------------------------------


def import_validate(*, job_id: str) -> ImportJob:
    """Check every row of a job that is validating, as the submission would; then submit it
    if it was uploaded to be submitted."""
    try:
        with advisory_lock(f"import-{job_id}"):
            job = _validate(job_id)
    except LockBusy:  # another worker runs this job's step
        return ImportJob.objects.get(id=job_id)
    # Outside the lock: the submission takes it in turn (here and now, without workers).
    if job.status == ImportJob.Status.VALIDATED and job.submit_when_validated:
        try:
            return import_submit_request(job=job, only_valid=job.only_valid)
        except ValidationError as exc:  # rows with errors, and not only the valid ones
            ImportJob.objects.filter(id=job.id, status=ImportJob.Status.VALIDATED).update(
                status=ImportJob.Status.FAILED, error=" ".join(exc.messages)
            )
            job.refresh_from_db()
    return job


def _validate(job_id: str) -> ImportJob:
    job = ImportJob.objects.select_related("organisation", "created_by").get(id=job_id)
    if job.status != ImportJob.Status.VALIDATING:
        return job
    # A run that stopped half-way (a worker gone) is done again from the first row.
    job.checked_count = job.error_count = job.already_count = 0
    record = RECORD_TYPES[job.record_type]
    occurrences: Counter[str] = Counter()
    checked: list[ImportRow] = []
    for row in job.rows.order_by("number").iterator(chunk_size=1000):
        _row_check(job, record, row, occurrences)
        checked.append(row)
        if len(checked) == PROGRESS_EVERY:
            _checked_save(job, checked)
            checked = []
    _checked_save(job, checked)
    job.status = ImportJob.Status.VALIDATED
    job.save(update_fields=["status", "updated_at"])
    return job


def _checked_save(job: ImportJob, rows: list[ImportRow]) -> None:
    if not rows:
        return
    ImportRow.objects.bulk_update(
        rows, ["checked", "error", "already_imported", "idempotency_key", "lot_id"]
    )
    job.checked_count += len(rows)
    job.error_count += sum(1 for r in rows if r.error)
    job.already_count += sum(1 for r in rows if r.already_imported)
    job.save(update_fields=["checked_count", "error_count", "already_count", "updated_at"])


def _row_key(job: ImportJob, canonical: dict[str, Any], occurrences: Counter[str]) -> str:
    content = json.dumps(canonical, sort_keys=True, default=str)
    occurrences[content] += 1
    material = f"{job.organisation_id}\n{job.record_type}\n{content}\n{occurrences[content]}"
    return f"import:{job.record_type}:{hashlib.sha256(material.encode()).hexdigest()}"


def _row_check(
    job: ImportJob, record: RecordType, row: ImportRow, occurrences: Counter[str]
) -> None:
    row.checked, row.error, row.already_imported, row.lot_id = True, "", False, None
    try:
        parsed = record.parse(row.values)
    except RowRefused as exc:
        row.error = "; ".join(f"{column} {message}" for column, message in exc.errors.items())
        return
    row.idempotency_key = _row_key(job, parsed.canonical, occurrences)
    existing = operation_by_key(organisation=job.organisation, idempotency_key=row.idempotency_key)
    if existing is not None:
        row.already_imported = True
        row.lot_id = existing.lot_id
        return
    try:
        with transaction.atomic():
            record.perform(
                organisation=job.organisation,
                idempotency_key=row.idempotency_key,
                user=job.created_by,
                **parsed.arguments,
            )
            raise _DryRun
    except _DryRun:
        pass
    except ValidationError as exc:
        row.error = refusal_text(record, exc)
    except IdempotencyConflict:
        row.error = "an earlier import used this row's key for other content"
    except Exception:
        log.exception("import %s: row %s could not be checked", job.id, row.number)
        row.error = "could not be checked (an unexpected error; the operator has been alerted)"


def refusal_text(record: RecordType, exc: ValidationError) -> str:
    """A service's refusal in one line, its fields named as the file's columns."""
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    parts = []
    for field, messages in exc.message_dict.items():
        text = " ".join(messages)
        if field in {"__all__", "non_field_errors"}:
            parts.append(text)
        else:
            parts.append(f"{record.fields.get(field, field)}: {text}")
    return "; ".join(parts)


# -- submission ----------------------------------------------------------------------------


def import_submit_request(*, job: ImportJob, only_valid: bool) -> ImportJob:
    """Start queueing a checked job's rows: all of them (refused while any row is invalid)
    or, with `only_valid`, the valid ones. A second request finds it submitting already."""
    if job.status != ImportJob.Status.VALIDATED:
        raise ValidationError(
            {"__all__": [f"This import is {job.status}; only a checked import can be submitted."]}
        )
    if job.error_count and not only_valid:
        first = job.rows.exclude(error="").order_by("number").first()
        where = f" (the first is row {first.number})" if first else ""
        raise ValidationError(
            {
                "__all__": [
                    f"{number(job.error_count)} of {number(job.row_count)} rows have errors"
                    f"{where}; nothing was queued. Correct the file and upload it again, or"
                    f" import only the {number(job.valid_count)} valid rows."
                ]
            }
        )
    if job.valid_count == 0:
        raise ValidationError({"__all__": ["No row is valid: there is nothing to import."]})
    moved = ImportJob.objects.filter(id=job.id, status=ImportJob.Status.VALIDATED).update(
        status=ImportJob.Status.SUBMITTING, only_valid=only_valid
    )
    if not moved:
        raise ValidationError({"__all__": ["This import is being submitted already."]})
    job.refresh_from_db()
    _dispatch(SUBMIT_TASK, job)
    job.refresh_from_db()
    return job


class _Refused(Exception):
    def __init__(self, row: ImportRow, text: str) -> None:
        super().__init__(text)
        self.row, self.text = row, text


def import_submit(*, job_id: str) -> ImportJob:
    """Queue one operation per valid row of a submitting job, QUEUE_CHUNK rows per database
    transaction: the deployment's lot-id counter, which a registration holds until its
    transaction commits, is never held for long (a single transaction would keep every
    other registration waiting for the minutes 10,000 rows take).

    The dry run decided that every row may go (or that only the valid ones go). A row
    refused now all the same (the chain or a document changed since) is marked and
    skipped when only the valid rows were asked for; otherwise queueing stops there and
    the job fails saying which rows went: uploading the corrected file again queues only
    what is missing. Rows an earlier import already queued get that operation back."""
    try:
        with advisory_lock(f"import-{job_id}"):
            return _submit(job_id)
    except LockBusy:  # another worker runs this job's step
        return ImportJob.objects.get(id=job_id)


def _submit(job_id: str) -> ImportJob:
    job = ImportJob.objects.select_related("organisation", "created_by").get(id=job_id)
    if job.status != ImportJob.Status.SUBMITTING:
        return job
    record = RECORD_TYPES[job.record_type]
    rows = list(job.rows.filter(checked=True, error="").order_by("number"))
    queued = 0
    try:
        for start in range(0, len(rows), QUEUE_CHUNK):
            chunk = rows[start : start + QUEUE_CHUNK]
            with transaction.atomic():
                refused = []
                for row in chunk:
                    try:
                        _row_queue(job, record, row)
                    except _Refused as exc:
                        if not job.only_valid:
                            raise
                        row.error = exc.text
                        refused.append(row)
                ImportRow.objects.bulk_update(
                    chunk, ["operation", "lot_id", "already_imported", "error"]
                )
                job.error_count += len(refused)
                job.save(update_fields=["error_count", "updated_at"])
            queued += len(chunk) - len(refused)
    except _Refused as exc:
        job.refresh_from_db()
        exc.row.error = exc.text
        exc.row.save(update_fields=["error"])
        _submission_stopped(
            job,
            f"Row {exc.row.number} was refused when it was queued: {exc.text.rstrip('.')}.",
            queued,
            refused_rows=1,
        )
        return job
    except Exception:
        log.exception("import %s: the submission stopped", job.id)
        job.refresh_from_db()
        _submission_stopped(job, "An unexpected error stopped the submission.", queued)
        return job
    job.status = ImportJob.Status.SUBMITTED
    job.already_count = sum(1 for r in rows if r.already_imported)
    job.save(update_fields=["status", "already_count", "updated_at"])
    return job


def _submission_stopped(job: ImportJob, reason: str, queued: int, refused_rows: int = 0) -> None:
    if queued:
        rows = "1 row" if queued == 1 else f"{number(queued)} rows"
        went = (
            f" {rows} before it {'was' if queued == 1 else 'were'} queued and go on; the"
            " rest were not. Correct the file and upload it again: the rows already queued"
            " are recognised and not queued twice."
        )
    else:
        went = " Nothing was queued; correct the file and upload it again."
    job.status = ImportJob.Status.FAILED
    job.error = reason + went
    job.error_count += refused_rows
    job.save(update_fields=["status", "error", "error_count", "updated_at"])


def _row_queue(job: ImportJob, record: RecordType, row: ImportRow) -> None:
    existing = operation_by_key(organisation=job.organisation, idempotency_key=row.idempotency_key)
    if existing is not None:
        row.operation, row.lot_id, row.already_imported = existing, existing.lot_id, True
        return
    try:
        parsed = record.parse(row.values)
    except RowRefused as exc:  # it was read at the dry run; a receiver may have gone
        raise _Refused(row, "; ".join(f"{c} {m}" for c, m in exc.errors.items())) from exc
    try:
        with transaction.atomic():
            operation: Operation = record.perform(
                organisation=job.organisation,
                idempotency_key=row.idempotency_key,
                user=job.created_by,
                **parsed.arguments,
            )
    except ValidationError as exc:
        raise _Refused(row, refusal_text(record, exc)) from exc
    except IdempotencyConflict as exc:
        raise _Refused(row, "an earlier import used this row's key for other content") from exc
    row.operation, row.lot_id = operation, operation.lot_id
