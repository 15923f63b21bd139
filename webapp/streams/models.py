"""Subscriptions to the event store and what their delivery leaves behind.

A subscription's `checkpoint` is the last sequence number (event row id) it delivered or
skipped (invisible to it, or filtered out). A message is formed from the events after it
and stored (`Message`) before it is sent, so a retry or a worker restarted mid-send sends
the same `webhook-id` again, never the same events under another id. In ordered mode the
checkpoint moves to a message's last sequence only once the receiver answered 2xx; in
unordered mode it moves when the message is formed, and a message that keeps failing
stays behind as a dead letter.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models

from webapp.organisations.models import Organisation


class PayloadsField(models.JSONField):
    """A JSONField that `bulk_create` inserts as a multi-row VALUES list.

    Django inserts several rows through UNNEST of one array per column on PostgreSQL;
    psycopg writes an array of JSON texts by escaping every quote of every document with a
    regular expression, which cost the per-event webhook path more than the insert itself.
    A field with `get_placeholder` keeps Django on the plain VALUES path."""

    def get_placeholder(self, value: Any, compiler: Any, connection: Any) -> str:
        return "%s"


class Subscription(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active"
        PAUSED = "paused"
        DISABLED = "disabled"

    class Transport(models.TextChoices):
        WEBHOOK = "webhook"
        #: An EPCIS query subscription (`EpcisSubscription`): its own delivery, its
        #: checkpoint an EPCIS event id (`webapp.streams.epcis_subscriptions`).
        EPCIS = "epcis"
        #: Consumed over WebSocket (or Server-Sent Events): `webapp.streams.live`.
        WEBSOCKET = "websocket"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="subscriptions"
    )
    name = models.CharField(max_length=100)
    chain_id = models.PositiveBigIntegerField()
    #: Event types wanted (empty: every type).
    event_types = models.JSONField(default=list)
    #: Lots (and bundles) wanted, with what descends from them (empty: any lot).
    lot_ids = models.JSONField(default=list)
    own_only = models.BooleanField(default=False)
    transport = models.CharField(
        max_length=16, choices=Transport.choices, default=Transport.WEBHOOK
    )
    url = models.URLField(max_length=2000)
    batch_size = models.PositiveIntegerField(default=1)
    batch_timeout_s = models.PositiveIntegerField(default=5)
    confirmations = models.PositiveIntegerField(default=0)
    ordered = models.BooleanField(default=True)

    class Format(models.TextChoices):
        #: The fact as the contract emitted it (`fact`), in the REST API's shape.
        REST = "rest"
        #: The fact's EPCIS 2.0 event (`epcis`) instead of `fact`.
        EPCIS = "epcis"
        BOTH = "both"

    #: What each payload carries of the fact (`webapp.streams.payloads`).
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.REST)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    disabled_reason = models.TextField(blank=True)
    #: How the start was asked for ("oldest", "newest", "sequence:12", "block:40", "time:…").
    start = models.CharField(max_length=64)
    checkpoint = models.BigIntegerField(default=0)
    #: When a batch smaller than `batch_size` started waiting for more events.
    batch_started_at = models.DateTimeField(null=True, blank=True)
    #: A worker delivering this subscription holds it until then (a dead worker's lease
    #: runs out; the next one sends its formed message again under the same id).
    leased_until = models.DateTimeField(null=True, blank=True)
    #: The create request's Idempotency-Key and a hash of its body: the same key answers
    #: with this subscription, the same key with another body is refused.
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["state", "chain_id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="subscription_unique_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"subscription {self.name} of {self.organisation_id} ({self.state})"


class SigningSecret(models.Model):
    """A `whsec_` secret. Rotation gives the old one an expiry: until then both sign."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="secrets")
    # Kept readable: HMAC needs the secret itself on the sending side.
    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"signing secret {self.secret[:10]}… of {self.subscription_id}"


class Message(models.Model):
    """A formed message not yet acknowledged: due for an attempt, or dead (unordered mode:
    its retries ran out; it waits for a replay)."""

    class Kind(models.TextChoices):
        EVENTS = "events"
        RETRACTIONS = "retractions"
        #: One alert event (`webapp.streams.alerts`): it never moves the checkpoint.
        ALERTS = "alerts"

    class Status(models.TextChoices):
        PENDING = "pending"
        DEAD = "dead"

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="messages"
    )
    message_id = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.EVENTS)
    first_sequence = models.BigIntegerField()
    last_sequence = models.BigIntegerField()
    #: The payloads (`webapp.streams.payloads`), kept so a retry or replay sends the same
    #: facts even after a reorganisation deleted their rows.
    data = PayloadsField()
    batch = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["subscription", "status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"message {self.message_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One HTTP attempt at a message: the delivery log."""

    class Status(models.TextChoices):
        DELIVERED = "delivered"
        FAILED = "failed"  # will be tried again
        GAVE_UP = "gave_up"  # retries ran out, or 410: disabled or dead-lettered
        REFUSED = "refused"  # the destination failed the SSRF check

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="attempts"
    )
    message_id = models.CharField(max_length=100)
    kind = models.CharField(max_length=16)
    first_sequence = models.BigIntegerField()
    last_sequence = models.BigIntegerField()
    attempt = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempted_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["subscription", "-id"])]

    def __str__(self) -> str:
        return f"attempt {self.attempt} of {self.message_id}: {self.status}"


class EpcisSubscription(models.Model):
    """What an EPCIS query subscription (`/epcis/queries/{name}/subscriptions`) adds to its
    `Subscription` (transport `epcis`; `url` is the binding's `dest`, `checkpoint` the last
    EPCIS event id delivered or passed over). Deleting the named query deletes it."""

    subscription = models.OneToOneField(
        Subscription, on_delete=models.CASCADE, primary_key=True, related_name="epcis"
    )
    query = models.ForeignKey(
        "epcis.NamedQuery", on_delete=models.CASCADE, related_name="subscriptions"
    )
    # Kept readable: the GS1-Signature HMAC needs it on the sending side.
    signature_token = models.TextField(blank=True)
    stream = models.BooleanField(default=False)
    #: The schedule as given (`webapp.streams.epcis_schedule`); none for a stream.
    schedule = models.JSONField(null=True, blank=True)
    report_if_empty = models.BooleanField(default=False)
    initial_record_time = models.DateTimeField(null=True, blank=True)
    #: Scheduled: when the query runs next, and while a run is being sent, the event ids
    #: it covers (after `run_from`, up to `run_until`: what was stored when it fired).
    next_run_at = models.DateTimeField(null=True, blank=True)
    run_from = models.BigIntegerField(null=True, blank=True)
    run_until = models.BigIntegerField(null=True, blank=True)
    #: The event ids known settled (every transaction that could still add a lower id has
    #: ended), and the fence that settles the next ones: the highest id seen and the
    #: transaction horizon (PostgreSQL xmax) when it was seen.
    settled_sequence = models.BigIntegerField(default=0)
    fence_sequence = models.BigIntegerField(null=True, blank=True)
    fence_xid = models.BigIntegerField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"EPCIS subscription {self.subscription_id}"


class LiveCursor(models.Model):
    """How far a live (WebSocket) subscription's events were read into `LiveDelivery` rows.

    `checkpoint` mirrors the subscription's checkpoint as the live code last set it: when
    they differ, someone else moved it (a rewind), and the in-flight rows are dropped."""

    subscription = models.OneToOneField(
        Subscription, on_delete=models.CASCADE, primary_key=True, related_name="live_cursor"
    )
    read_through = models.BigIntegerField()
    checkpoint = models.BigIntegerField()

    def __str__(self) -> str:
        return f"live cursor of {self.subscription_id} at {self.read_through}"


class LiveDelivery(models.Model):
    """One event of a live subscription that was read but not yet acknowledged.

    A connection leases rows (`lease_owner`, `leased_until`) with SELECT ... FOR UPDATE
    SKIP LOCKED, so two connections never hold one event at once; a row whose lease ran
    out or was released (the connection closed) goes to the next connection asking. An
    ack deletes the row; the checkpoint is then the sequence before the oldest row left."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="live_deliveries"
    )
    sequence = models.BigIntegerField()
    event_id = models.CharField(max_length=200)
    data = PayloadsField()
    lease_owner = models.CharField(max_length=64, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["subscription", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "sequence"], name="live_delivery_unique_sequence"
            )
        ]

    def __str__(self) -> str:
        return f"live delivery {self.event_id} ({self.lease_owner or 'free'})"


class AsymmetricKey(models.Model):
    """A subscription's Ed25519 key for `v1a` signatures (`webapp.streams.asymmetric`).

    The organisations' key stores (keystore files, PKCS#11, Key Vault) hold secp256k1
    signing keys only, so the Ed25519 private key is sealed the way personal data keys
    are: wrapped by a key-encryption key that never leaves the organisation's key store
    (`backend`, `reference`: `KeyStoreBackend.create_wrapping_key`). Only the wrapped
    bytes are stored; the public key is kept readable to be published."""

    subscription = models.OneToOneField(
        Subscription, on_delete=models.CASCADE, primary_key=True, related_name="asymmetric_key"
    )
    backend = models.CharField(max_length=32)
    reference = models.CharField(max_length=500)
    wrapped_private_key = models.BinaryField()
    #: `whpk_` + base64 of the raw public key.
    public_key = models.CharField(max_length=100)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Ed25519 key {self.public_key[:14]}… of {self.subscription_id}"


class AlertEvent(models.Model):
    """An alert raised or cleared (`webapp.streams.alerts`): the outbox row written in the
    transaction that raised or cleared it. Its webhook messages and live rows are queued in
    that same transaction; JetStream publishes it later (`published_at`)."""

    event_id = models.CharField(max_length=100, unique=True)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="alert_events"
    )
    type = models.CharField(max_length=32)
    data = models.JSONField()
    created_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["published_at", "id"], name="alert_event_unpublished")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
