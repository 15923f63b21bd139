"""Condition monitoring: what sensors measured about lots (temperature, humidity, shock...).

A `SensorReading` comes from a captured EPCIS event's `sensorElementList` today
(`source=epcis`, the event kept as `epcis_event`) and from devices reporting directly later
(`source=device`). One reading per lot the measurement is about: the lot-side queries
("the temperatures of lot 12 last week") read one index range.
"""

from __future__ import annotations

from django.db import models

from webapp.fields import Uint256Field


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
