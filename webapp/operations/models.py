"""Operations: every business write is a row here before it is a transaction on chain.

A form or API call records an operation in the same database transaction as its
validation; a worker signs and submits it; the indexer confirms it when the events of its
transaction reach the event store. The status a person sees moves
queued → submitted → mined → confirmed, or ends in failed with the revert reason.
"""

from __future__ import annotations

import uuid

from django.db import models


class Operation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        SUBMITTED = "submitted"
        MINED = "mined"
        CONFIRMED = "confirmed"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chain_id = models.PositiveBigIntegerField()
    sender = models.CharField(max_length=42)
    action = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    transaction_hash = models.CharField(max_length=66, blank=True, db_index=True)
    nonce = models.PositiveBigIntegerField(null=True)
    error = models.TextField(blank=True)
    confirmed_block = models.PositiveBigIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["chain_id", "status"])]

    def __str__(self) -> str:
        return f"{self.action} ({self.status})"
