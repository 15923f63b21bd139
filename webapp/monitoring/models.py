"""Condition monitoring: what sensors measured about lots (temperature, humidity, shock...).

A `SensorReading` comes from a captured EPCIS event's `sensorElementList` today
(`source=epcis`, the event kept as `epcis_event`) and from devices reporting directly later
(`source=device`). One reading per lot the measurement is about: the lot-side queries
("the temperatures of lot 12 last week") read one index range.
"""

from __future__ import annotations

from django.conf import settings
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


class Rule(models.Model):
    """A condition an organisation watches on lots: what counts as a breach, and where.

    Scope: a product line (the lot's declared `product_line`, else its GTIN, else its
    name, as the sustainability dashboard names lines), a shipment (a bundle: the bundle and
    every lot packed in it, at any depth), or a list of lot ids. A breach raises an `Alert`
    and, with `quarantine`, queues an on-chain quarantine of the affected lots signed by the
    organisation's key (it must hold the REPORTER role).
    """

    class Kind(models.TextChoices):
        TEMPERATURE_ABOVE = "temperature_above"
        TEMPERATURE_BELOW = "temperature_below"
        HUMIDITY_ABOVE = "humidity_above"
        HUMIDITY_BELOW = "humidity_below"
        SHOCK_ABOVE = "shock_above"
        GEOFENCE_EXIT = "geofence_exit"
        DEVICE_SILENT = "device_silent"

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="monitoring_rules"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    #: The bound: °C for temperature, % relative humidity, g for shock.
    threshold = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    #: How long a value must stay beyond the bound before it is a breach (0: at once); for
    #: "device silent", how long without a reading.
    duration_s = models.PositiveIntegerField(default=0)
    #: The geofence: a circle (WGS 84 degrees, kilometres).
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    radius_km = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    product_line = models.CharField(max_length=200, blank=True)
    bundle_id = Uint256Field(null=True, blank=True)
    lot_ids = models.JSONField(default=list, blank=True)
    quarantine = models.BooleanField(default=True)
    active = models.BooleanField(default=True)
    #: The API request's Idempotency-Key: a retry gets this rule back, not a second one.
    idempotency_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation", "id"]
        indexes = [models.Index(fields=["active", "kind"], name="monitoring_rule_active")]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="monitoring_rule_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class RuleState(models.Model):
    """Where one rule stands for one lot: the excursion in progress, if any, so "for longer
    than a duration" carries across batches without reading the history again."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="states")
    lot_id = Uint256Field()
    #: The time of the latest reading seen (out-of-order older readings are ignored).
    last_time = models.DateTimeField(null=True, blank=True)
    #: The excursion in progress: since when, its worst value, its first and last reading.
    excursion_from = models.DateTimeField(null=True, blank=True)
    worst_value = models.DecimalField(max_digits=40, decimal_places=12, null=True, blank=True)
    first_reading_id = models.BigIntegerField(null=True, blank=True)
    last_reading_id = models.BigIntegerField(null=True, blank=True)
    alert = models.ForeignKey(
        "monitoring.Alert", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "lot_id"], name="monitoring_rule_state_lot")
        ]

    def __str__(self) -> str:
        return f"rule {self.rule_id} on lot {self.lot_id}"


class Alert(models.Model):
    """A breach of a rule: the lots it concerns, when it began and ended, the worst value,
    the readings behind it, and the quarantine operations it queued. It stays open until a
    person with the right role clears it with a reason (which lifts the quarantines)."""

    class State(models.TextChoices):
        OPEN = "open"
        CLEARED = "cleared"

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="monitoring_alerts"
    )
    rule = models.ForeignKey(
        Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    #: The rule as it was (a deleted rule's alerts still say what fired).
    rule_name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=Rule.Kind.choices)
    lot_ids = models.JSONField(default=list)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    worst_value = models.DecimalField(max_digits=40, decimal_places=12, null=True, blank=True)
    first_reading_id = models.BigIntegerField(null=True, blank=True)
    last_reading_id = models.BigIntegerField(null=True, blank=True)
    message = models.TextField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    #: The lots this alert quarantined (queued `setQuarantine`), and those operations' ids.
    quarantined_lot_ids = models.JSONField(default=list, blank=True)
    operation_ids = models.JSONField(default=list, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    clear_reason = models.TextField(blank=True)
    #: The clearing request's Idempotency-Key: a retry gets the cleared alert back.
    clear_idempotency_key = models.CharField(max_length=200, blank=True)
    clear_operation_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        permissions = [("clear_alert", "Can clear condition alerts and lift their quarantines")]
        indexes = [models.Index(fields=["organisation", "state"], name="monitoring_alert_state")]

    def __str__(self) -> str:
        return f"{self.rule_name}: lots {', '.join(str(i) for i in self.lot_ids)}"


class Device(models.Model):
    """A sensor an organisation registered: it signs its readings with its own key (only the
    public key is here) and publishes them to its own MQTT topic with its own credentials
    (only the broker's hash of its password is here)."""

    class KeyType(models.TextChoices):
        P256 = "p256", "ECDSA P-256"
        ED25519 = "ed25519", "Ed25519"

    class State(models.TextChoices):
        ACTIVE = "active"
        REVOKED = "revoked"

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="devices"
    )
    #: The organisation's name for it ("pallet-7"): letters, digits, ".", "_" and "-", so it
    #: can stand in a topic and in a broker user name.
    device_id = models.CharField(max_length=64)
    key_type = models.CharField(max_length=8, choices=KeyType.choices)
    #: The public key as PEM (SubjectPublicKeyInfo).
    public_key = models.TextField()
    #: What its readings are about: chain lot ids, bundle ids, optionally a handoff.
    lot_ids = models.JSONField(default=list, blank=True)
    bundle_ids = models.JSONField(default=list, blank=True)
    handoff_id = Uint256Field(null=True, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.ACTIVE)
    #: The sequence number of the last reading accepted (0: none yet); the next must exceed it.
    last_seq = models.BigIntegerField(default=0)
    last_reading_at = models.DateTimeField(null=True, blank=True)
    accepted_count = models.BigIntegerField(default=0)
    #: Readings refused, by reason code (`bad_signature`: 3).
    rejected = models.JSONField(default=dict, blank=True)
    #: The broker's hash of the device's MQTT password (Mosquitto's PBKDF2-SHA512 `$7$`
    #: form); blank once revoked. The password itself is shown once, at registration.
    mqtt_password_hash = models.CharField(max_length=256, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "device_id"], name="monitoring_device_unique_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"device {self.device_id} of {self.organisation_id}"

    @property
    def attached_ids(self) -> list[int]:
        """The lots and bundles each of its readings is recorded against."""
        return sorted({int(i) for i in [*self.lot_ids, *self.bundle_ids]})


class DeviceReading(models.Model):
    """The raw log of accepted device readings, kept as evidence: the signed payload exactly
    as received and its signature. On PostgreSQL the table is partitioned by month of the
    reading's time (migration 0003); `webapp.monitoring.ingest` adds partitions as needed."""

    pk = models.CompositePrimaryKey("device", "seq", "time")
    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="readings")
    seq = models.BigIntegerField()
    time = models.DateTimeField()
    #: The payload as the device sent it (UTF-8 JSON, "sig" included).
    payload = models.TextField()
    signature = models.TextField()
    received_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"reading {self.seq} of device {self.device_id}"
