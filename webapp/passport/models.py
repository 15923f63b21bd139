"""The proof store: proofs of mirrored events and block headers, built once from the node.

The tables keep the names they had when the provenance app held them (``db_table``), so
moving the models here moved no data."""

from __future__ import annotations

from django.db import models


class EventProof(models.Model):
    """The proof document of one event log, built once from the node.

    Keyed by (chain, block hash, log index): everything a proof holds (header, transaction,
    receipt, trie paths) is fixed by its block's hash, so a stored proof never goes stale.
    A reorganisation gives the surviving events new block hashes, hence new keys; the rows
    of the dropped block are simply never asked for again.
    """

    chain_id = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66)
    log_index = models.PositiveIntegerField()
    block_number = models.PositiveBigIntegerField()
    document = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "provenance_eventproof"
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "block_hash", "log_index"], name="event_proof_unique_log"
            )
        ]

    def __str__(self) -> str:
        return f"proof of log {self.log_index} in block {self.block_number} ({self.block_hash})"


class BlockHeaderProof(models.Model):
    """A block's RLP header, by (chain, block hash): what an evidence pack's as-of block
    carries so a verifier can read its timestamp. Immutable like an EventProof."""

    chain_id = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66)
    block_number = models.PositiveBigIntegerField()
    header = models.TextField()

    class Meta:
        db_table = "provenance_blockheaderproof"
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "block_hash"], name="block_header_proof_unique_block"
            )
        ]

    def __str__(self) -> str:
        return f"header of block {self.block_number} ({self.block_hash})"
