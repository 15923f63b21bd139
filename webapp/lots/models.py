"""Off-chain halves of lots: the metadata document whose hash the chain holds, and the
allocator that hands out new lot ids."""

from __future__ import annotations

from django.db import models

from webapp.fields import Uint256Field


class LotMetadata(models.Model):
    """The full metadata document of a lot (name, unit, GS1 ids, claims, documents).

    The chain stores keccak256 of its canonical JSON as the lot's metadata hash; the lot
    page recomputes it and shows whether the two agree.
    """

    chain_id = models.PositiveBigIntegerField()
    lot_id = Uint256Field()
    document = models.JSONField()
    metadata_hash = models.CharField(max_length=66)
    gs1_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "lot_id"], name="lot_metadata_unique")
        ]

    def __str__(self) -> str:
        return f"lot {self.lot_id}: {self.document.get('name', '')}"

    @property
    def name(self) -> str:
        return str(self.document.get("name", ""))

    @property
    def unit(self) -> str:
        return str(self.document.get("unit", ""))


class LotNumber(models.Model):
    """The last lot id handed out on a chain (ids are chosen by the caller on chain)."""

    chain_id = models.PositiveBigIntegerField(unique=True)
    last = Uint256Field()

    def __str__(self) -> str:
        return f"last lot id {self.last} on chain {self.chain_id}"
