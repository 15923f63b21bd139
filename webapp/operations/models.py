"""Operations: every business write is a row here before it is a transaction on chain.

A form or API call records an operation in the same database transaction as its
validation; a worker signs it with the organisation's key store and submits it; the
indexer confirms it when the events of its transaction reach the event store. The status a
person sees moves queued → submitted → mined → confirmed, or ends in failed with the
decoded revert reason.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import models

UINT256_MAX = 2**256 - 1


class Uint256Field(models.DecimalField):  # type: ignore[type-arg]
    """A uint256 column (numeric(78, 0)) whose reads never raise.

    SQLite keeps such a column as a REAL, and Django's SQLite converter raises on any value
    with more than 78 digits, so one out-of-range row would break every page that lists
    it. Here a stored value that is not a uint256 reads as None; the operation's request
    still shows what was asked for.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 78)
        kwargs.setdefault("decimal_places", 0)
        super().__init__(*args, **kwargs)

    def get_internal_type(self) -> str:
        # Not "DecimalField": that name makes the SQLite backend add its raising converter.
        return "Uint256Field"

    def db_type(self, connection: Any) -> str | None:
        return str(connection.data_types["DecimalField"] % self.db_type_parameters(connection))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Decimal | None:
        return as_uint256(value)


def as_uint256(value: Any) -> Decimal | None:
    """`value` as a whole Decimal when it is a uint256, else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    whole = int(number)
    return Decimal(whole) if 0 <= whole <= UINT256_MAX else None


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
    #: The contract call: {"contract": "Lots", "function": "registerLot", "args": [...]}.
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
