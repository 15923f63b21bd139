"""The event store: every contract event of the system, as mirrored from the chain.

Rows are unique on (chain, block hash, log index), so re-ingesting a range changes
nothing. Each event row carries a hash of its content and a running hash over the store
in chain order (ledger-table style): altering, removing or inserting a row breaks every
running hash after it, which `verify_mirror` detects.
"""

from __future__ import annotations

from django.db import models


class Block(models.Model):
    """A block the indexer has seen: its hash and parent hash detect reorganisations."""

    chain_id = models.PositiveBigIntegerField()
    number = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=66)
    parent_hash = models.CharField(max_length=66)
    timestamp = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "number"], name="block_unique_number")
        ]

    def __str__(self) -> str:
        return f"block {self.number} {self.hash[:10]}"


class ChainEvent(models.Model):
    """One decoded event log."""

    chain_id = models.PositiveBigIntegerField()
    block_number = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66)
    block_timestamp = models.DateTimeField()
    transaction_hash = models.CharField(max_length=66)
    transaction_index = models.PositiveIntegerField()
    log_index = models.PositiveIntegerField()
    contract = models.CharField(max_length=32)
    address = models.CharField(max_length=42)
    event = models.CharField(max_length=64)
    args = models.JSONField()
    content_hash = models.CharField(max_length=66)
    running_hash = models.CharField(max_length=66)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "block_hash", "log_index"], name="event_unique_log"
            )
        ]
        indexes = [
            models.Index(fields=["chain_id", "block_number", "log_index"]),
            models.Index(fields=["event"]),
            models.Index(fields=["transaction_hash"]),
        ]
        ordering = ["chain_id", "block_number", "log_index"]

    def __str__(self) -> str:
        return f"{self.event} @ {self.block_number}:{self.log_index}"


class Checkpoint(models.Model):
    """The last block whose events are all in the store, per chain.

    It moves in the same database transaction as the rows it covers, so a crash replays
    the range instead of losing or doubling it.
    """

    chain_id = models.PositiveBigIntegerField(unique=True)
    block_number = models.BigIntegerField()
    block_hash = models.CharField(max_length=66, blank=True)
    block_timestamp = models.DateTimeField(null=True)
    head_number = models.BigIntegerField(default=0)
    head_timestamp = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"chain {self.chain_id} at block {self.block_number}"


class ParkedLog(models.Model):
    """A log from our contracts that could not be decoded: kept, shown, not applied."""

    chain_id = models.PositiveBigIntegerField()
    block_number = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66)
    transaction_hash = models.CharField(max_length=66)
    log_index = models.PositiveIntegerField()
    address = models.CharField(max_length=42)
    topics = models.JSONField()
    data = models.TextField()
    error = models.TextField()
    parked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "block_hash", "log_index"], name="parked_unique_log"
            )
        ]

    def __str__(self) -> str:
        return f"parked log {self.block_number}:{self.log_index}"


class ConsumerCursor(models.Model):
    """How far one consumer of the event store has got, per chain.

    It moves in the same database transaction as the consumer's effects, so a crash
    replays the batch instead of losing or doubling it. A consumer that raised is parked
    here (the event and the error) until someone un-parks it; the others go on.
    """

    chain_id = models.PositiveBigIntegerField()
    name = models.CharField(max_length=64)
    event_id = models.BigIntegerField(default=0)
    parked_at = models.DateTimeField(null=True, blank=True)
    parked_event_id = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "name"], name="consumer_cursor_unique")
        ]

    def __str__(self) -> str:
        state = " (parked)" if self.parked else ""
        return f"{self.name} on chain {self.chain_id} at event {self.event_id}{state}"

    @property
    def parked(self) -> bool:
        return self.parked_at is not None
