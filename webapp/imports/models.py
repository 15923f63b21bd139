"""Batch imports: a spreadsheet of lots, handoffs or certificates, checked row by row
(the dry run), then queued as one operation per row.

A job moves validating → validated → submitting → submitted, or ends in failed with a
reason (a submission refused as a whole). Each row keeps its values as read, its error in
plain words, and the operation it became; the operations themselves carry the status a
person follows to confirmed.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from webapp.fields import Uint256Field


class ImportJob(models.Model):
    class Status(models.TextChoices):
        VALIDATING = "validating"
        VALIDATED = "validated"
        SUBMITTING = "submitting"
        SUBMITTED = "submitted"
        FAILED = "failed"

    class RecordType(models.TextChoices):
        LOTS = "lots"
        HANDOFFS = "handoffs"
        CERTIFICATES = "certificates"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="import_jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    record_type = models.CharField(max_length=16, choices=RecordType.choices)
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    #: An API client's Idempotency-Key for the upload ("" from the portal).
    idempotency_key = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.VALIDATING)
    #: Submit once checked (an API upload without dry_run), and whether only valid rows go.
    submit_when_validated = models.BooleanField(default=False)
    only_valid = models.BooleanField(default=False)
    row_count = models.PositiveIntegerField(default=0)
    checked_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    already_count = models.PositiveIntegerField(default=0)
    #: Why a submission was refused as a whole (the rows say which of them).
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organisation", "-created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="import_job_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.record_type} import {self.file_name} ({self.status})"

    @property
    def valid_count(self) -> int:
        return self.checked_count - self.error_count


class ImportRow(models.Model):
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    #: The row's number in the spreadsheet (the header is row 1).
    number = models.PositiveIntegerField()
    #: The cells as read, by column name.
    values = models.JSONField(default=dict)
    #: The operation's idempotency key: the organisation, the record type and the row's
    #: content (with its occurrence among identical rows), so the same row uploaded again,
    #: in this file or a corrected one, names the operation it already became.
    idempotency_key = models.CharField(max_length=255, blank=True)
    checked = models.BooleanField(default=False)
    #: What is wrong with the row, in plain words ("" when it is fine).
    error = models.TextField(blank=True)
    #: An earlier import already queued this row's operation.
    already_imported = models.BooleanField(default=False)
    operation = models.ForeignKey(
        "operations.Operation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: The lot the row registered or is about (the operation's lot).
    lot_id = Uint256Field(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="import_row_number")]

    def __str__(self) -> str:
        return f"row {self.number}"
