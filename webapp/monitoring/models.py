"""Condition monitoring: what sensors measured about lots (temperature, humidity, shock...).

A `SensorReading` comes from a captured EPCIS event's `sensorElementList` today
(`source=epcis`, the event kept as `epcis_event`) and from devices reporting directly later
(`source=device`). One reading per lot the measurement is about: the lot-side queries
("the temperatures of lot 12 last week") read one index range.
"""

from __future__ import annotations

from django.db import models

from webapp.fields import Uint256Field
from webapp.operations.anchor_batch import AnchorBatch


class SensorReading(models.Model):
    class Source(models.TextChoices):
        EPCIS = "epcis"
        DEVICE = "device"

    #: The chain lot id the reading is about.
    lot_id = Uint256Field()
    time = models.DateTimeField()
    #: The CBV measurement type in its short form (`gs1:Temperature`); a type outside GS1's
    #: vocabulary as given (a URI).
    type = models.CharField(max_length=512)
    #: The measured value; or, where the sensor reports a summary, its minimum, maximum
    #: and mean (any of them may be missing).
    value = models.DecimalField(max_digits=40, decimal_places=12, null=True, blank=True)
    min_value = models.DecimalField(max_digits=40, decimal_places=12, null=True, blank=True)
    max_value = models.DecimalField(max_digits=40, decimal_places=12, null=True, blank=True)
    mean_value = models.DecimalField(max_digits=40, decimal_places=12, null=True, blank=True)
    #: The UN/ECE Recommendation 20 unit code as given (`CEL`); blank without one.
    unit = models.CharField(max_length=64, blank=True)
    device_id = models.CharField(max_length=512, blank=True)
    #: The device's sequence number of the reading (device readings only).
    device_seq = models.BigIntegerField(null=True, blank=True)
    #: Where the reading was taken (WGS 84 degrees), where the sensor says.
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    epcis_event = models.ForeignKey(
        "epcis.EpcisEvent",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sensor_readings",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["lot_id", "type", "time"], name="monitoring_lot_type_time")]

    def __str__(self) -> str:
        return f"{self.type} of lot {self.lot_id} at {self.time:%Y-%m-%d %H:%M}"


class ReadingAnchorBatch(AnchorBatch):
    """A batch of readings whose Merkle root one organisation anchored on chain
    (`Anchors.anchor(root, "SENSOR_READINGS", itemCount, uri)`), see
    `webapp.monitoring.anchoring`.

    The batch's items are its readings' canonical items (`reading_item`) in leaf order
    (`AnchoredReading.index`): rebuilt from the stored readings, so a reading altered since
    no longer leads to the anchored root. The anchor's transaction hash, log index and
    block are filled once the `RootAnchored` log is mirrored."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="reading_batches"
    )
    operation = models.ForeignKey(
        "operations.Operation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reading_anchor_batches",
    )

    def __str__(self) -> str:
        return f"reading batch {self.root[:10]} ({self.item_count} readings)"


class AnchoredReading(models.Model):
    """A reading's place in the anchoring: which organisation anchors it (none while its
    device's owner is unknown) and, once batched, its batch and leaf index. Written when
    the reading is recorded, so the readings waiting for a batch are one index range."""

    reading = models.OneToOneField(
        SensorReading, primary_key=True, on_delete=models.CASCADE, related_name="anchoring"
    )
    organisation = models.ForeignKey(
        "organisations.Organisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="anchored_readings",
    )
    batch = models.ForeignKey(
        ReadingAnchorBatch,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="readings",
    )
    index = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["organisation", "reading"],
                name="monitoring_reading_pending",
                condition=models.Q(batch__isnull=True),
            ),
            models.Index(fields=["batch", "index"], name="monitoring_reading_leaf"),
        ]

    def __str__(self) -> str:
        return f"anchoring of reading {self.reading_id}"
