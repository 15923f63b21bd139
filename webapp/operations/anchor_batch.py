"""The columns every anchored batch has (`webapp.operations.anchors`): its Merkle root and
size and, once mirrored, where its `RootAnchored` log is. Concrete batches (captured EPCIS
events, sensor readings) add how they find their items."""

from __future__ import annotations

from django.db import models


class AnchorBatch(models.Model):
    """A concrete batch adds ``organisation`` (the anchorer) and ``operation`` (the
    anchoring operation, null once deleted), keeping their reverse names its own."""

    #: The Merkle root, 0x-prefixed hex (66 characters).
    root = models.CharField(max_length=66)
    item_count = models.PositiveIntegerField()
    anchor_transaction_hash = models.CharField(max_length=66, blank=True)
    anchor_log_index = models.PositiveIntegerField(null=True, blank=True)
    anchor_block_number = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        # An organisation anchors a root once (so does the Anchors contract).
        constraints = (
            models.UniqueConstraint(
                fields=["organisation", "root"], name="%(app_label)s_batch_root"
            ),
        )
