"""Operations: every business write is a row here before it is a transaction on chain.

A form or API call records an operation in the same database transaction as its
validation; a worker signs it with the organisation's key store and submits it; the
indexer confirms it when the events of its transaction reach the event store. The status a
person sees moves queued → submitted → mined → confirmed, or ends in failed with the
decoded revert reason.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from webapp.fields import Uint256Field


class Operation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        SUBMITTED = "submitted"
        MINED = "mined"
        CONFIRMED = "confirmed"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="operations"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    chain_id = models.PositiveBigIntegerField()
    sender = models.CharField(max_length=42)
    #: What the person asked for, in domain words ("lot.register", "handoff.accept").
    action = models.CharField(max_length=64)
    #: The validated request as the person gave it (shown on the status page).
    request = models.JSONField(default=dict)
    #: The contract call, as `calls.ContractCall.as_json` writes it and `from_json` reads it:
    #: {"contract": "Lots", "function": "registerLot", "args": [...]}.
    call = models.JSONField(default=dict)
    #: The lot (or bundle) the operation is about, for the lot page's pending list.
    lot_id = Uint256Field(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    transaction_hash = models.CharField(max_length=66, blank=True, db_index=True)
    #: The signed transaction, kept until it is known to the node so a retry re-sends the
    #: same bytes (same hash) instead of signing a second fact.
    raw_transaction = models.TextField(blank=True)
    nonce = models.PositiveBigIntegerField(null=True, blank=True)
    #: Earlier attempts whose transactions were mined but reverted without effect and were
    #: then signed again ({"transaction_hash", "nonce", "block"} each): every nonce the
    #: sender used stays accounted for.
    reverted_attempts = models.JSONField(default=list, blank=True)
    #: Why the operation failed (the decoded revert reason), shown to the person.
    error = models.TextField(blank=True)
    #: Why a queued operation is still waiting (node unreachable, key store down).
    waiting_reason = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    mined_block = models.PositiveBigIntegerField(null=True, blank=True)
    confirmed_block = models.PositiveBigIntegerField(null=True, blank=True)
    #: What the chain ids in `call` named when the operation was queued (the handoff an
    #: answer is about: its sender, lot, quantity and initiating transaction). After a
    #: reorganisation an id can name something else; the submitter compares before signing.
    expects = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["chain_id", "status"]),
            models.Index(fields=["organisation", "-created_at"]),
            models.Index(fields=["chain_id", "lot_id"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="operation_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in {self.Status.CONFIRMED, self.Status.FAILED}
