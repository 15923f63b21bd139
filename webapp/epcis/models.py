"""EPCIS 2.0 events as stored, and the capture jobs that bring them in.

An `EpcisEvent` is either captured from a partner's document (`source=captured`, the
document kept as captured) or derived from a fact in the chain mirror (`source=chain`, with
the chain pointers). Its identity is the CBV 2.0 event hash (`webapp.epcis.hashing`); a
captured `eventID` that differs is kept beside it. The other columns are derived from the
document by `webapp.epcis.columns.event_columns` and exist for the EPCIS query parameters:
`epcs` holds every EPC and EPC class the event names (GIN-indexed on PostgreSQL, the index
created by the migration there), the btree indexes serve time windows and `EQ_bizStep`.
"""

from __future__ import annotations

import uuid

from django.db import models

from webapp.epcis.fields import IdentifierListField
from webapp.operations.anchor_batch import AnchorBatch


class EpcisEvent(models.Model):
    class EventType(models.TextChoices):
        OBJECT = "ObjectEvent"
        AGGREGATION = "AggregationEvent"
        TRANSFORMATION = "TransformationEvent"
        ASSOCIATION = "AssociationEvent"
        TRANSACTION = "TransactionEvent"

    class Source(models.TextChoices):
        CAPTURED = "captured"
        CHAIN = "chain"

    #: `ni:///sha-256;<64 hex>?ver=CBV2.0`.
    event_hash = models.CharField(max_length=100, unique=True)
    #: The eventID as given (captured) or our hash (derived); may differ from event_hash.
    event_id = models.CharField(max_length=512, blank=True, db_index=True)
    event_type = models.CharField(max_length=32, choices=EventType.choices)
    action = models.CharField(max_length=8, blank=True)
    #: Standard CBV values as their bare term ("shipping"), others as given.
    biz_step = models.CharField(max_length=512, blank=True)
    disposition = models.CharField(max_length=512, blank=True)
    read_point = models.CharField(max_length=512, blank=True)
    biz_location = models.CharField(max_length=512, blank=True)
    event_time = models.DateTimeField()
    event_time_zone_offset = models.CharField(max_length=6)
    record_time = models.DateTimeField()
    #: Every EPC and EPC class named (epcList, childEPCs, parentID, input/output lists,
    #: quantity classes), as given and in canonical Digital Link form.
    epcs = IdentifierListField()
    parent_id = models.CharField(max_length=512, blank=True)
    input_epcs = IdentifierListField()
    output_epcs = IdentifierListField()
    epc_classes = IdentifierListField()
    document = models.JSONField()
    source = models.CharField(max_length=8, choices=Source.choices)
    #: The capturing organisation; none for events derived from the chain.
    organisation = models.ForeignKey(
        "organisations.Organisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="epcis_events",
    )
    chain_id = models.PositiveBigIntegerField(null=True, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    transaction_hash = models.CharField(max_length=66, blank=True)
    log_index = models.PositiveIntegerField(null=True, blank=True)
    error_declaration = models.JSONField(null=True, blank=True)
    #: The lots the event is about, as decimal strings (GIN-indexed on PostgreSQL): an
    #: organisation sees a chain or captured event when one of these lots is in its
    #: `StockScope`. Filled by whoever stores the event (chain facts, capture).
    lot_ids = IdentifierListField()
    #: A public fact (a lot's registration, a certificate): every member sees it.
    public = models.BooleanField(default=False)
    #: The operation a captured event became on the chain (lot registered, handoff, ...);
    #: none for an event that maps to no chain action.
    operation = models.ForeignKey(
        "operations.Operation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="epcis_events",
    )
    #: The Merkle batch a captured event was anchored in (`webapp.epcis.anchoring`); none
    #: until the next anchoring run takes it, and always none for chain-derived events.
    anchor_batch = models.ForeignKey(
        "epcis.EpcisAnchorBatch",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
    )
    #: The capture job that stored a captured event; none for chain-derived events and for
    #: single events POSTed to /events (no job).
    capture_job = models.ForeignKey(
        "epcis.CaptureJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
    )
    #: The certificates of this deployment's chain the event's `certificationInfo` names, as
    #: decimal ids (a foreign URI stays in the document only).
    certificate_ids = IdentifierListField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["biz_step", "event_time"], name="epcis_bizstep_time"),
            models.Index(fields=["event_time"], name="epcis_event_time"),
            models.Index(fields=["record_time"], name="epcis_record_time"),
            models.Index(fields=["organisation", "event_time"], name="epcis_org_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_hash}"


class EpcisCorrection(models.Model):
    """An erroneous event's corrective event, by the eventID its error declaration gives
    (`correctiveEventIDs`). The corrective event may be captured before or after the
    declaration: `corrective` is filled whenever both are stored, by either capture."""

    erroneous = models.ForeignKey(EpcisEvent, on_delete=models.CASCADE, related_name="corrections")
    corrective_event_id = models.CharField(max_length=512)
    corrective = models.ForeignKey(
        EpcisEvent,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="corrects",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["erroneous", "corrective_event_id"], name="epcis_correction_unique"
            )
        ]
        indexes = [models.Index(fields=["corrective_event_id"], name="epcis_correction_id")]

    def __str__(self) -> str:
        return f"{self.corrective_event_id} corrects event {self.erroneous_id}"


class CaptureJob(models.Model):
    """One EPCIS capture (a document POSTed to /capture): what the REST binding reports
    back at /capture/{id}."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCESS = "success"
        FAILED = "failed"

    class ErrorBehaviour(models.TextChoices):
        #: All or nothing (the binding's default).
        ROLLBACK = "rollback"
        #: The valid events go in; the others are reported.
        PROCEED = "proceed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="capture_jobs"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    error_behaviour = models.CharField(
        max_length=8, choices=ErrorBehaviour.choices, default=ErrorBehaviour.ROLLBACK
    )
    event_count = models.PositiveIntegerField(default=0)
    captured_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    #: One entry per event that was refused: {"index", "eventID", "problems": [...]}.
    errors = models.JSONField(default=list, blank=True)
    #: The document while a worker has yet to capture it (a large capture runs in the
    #: background); cleared when the job finishes.
    document = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organisation", "-created_at"], name="epcis_capture_org")]

    def __str__(self) -> str:
        return f"capture {self.id} ({self.status})"


class NamedQuery(models.Model):
    """An organisation's named EPCIS query (`POST /epcis/queries`): the query parameters as
    the binding's JSON query body gives them, run again at `/queries/{name}/events`."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="epcis_queries"
    )
    name = models.CharField(max_length=200)
    query = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="epcis_query_name")
        ]

    def __str__(self) -> str:
        return f"EPCIS query {self.name}"


class EpcisAnchorBatch(AnchorBatch):
    """A batch of one organisation's captured events whose Merkle root is anchored on chain
    (`Anchors.anchor(root, "EPCIS", itemCount, uri)`), see `webapp.epcis.anchoring`.

    `items` are the batch's JSON items in tree order (`{"eventHash", "eventID"}` each): with
    them any event's inclusion proof can be rebuilt. The anchor's transaction hash and log
    index are filled once the `RootAnchored` log is mirrored."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="epcis_batches"
    )
    items = models.JSONField()
    operation = models.ForeignKey(
        "operations.Operation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="epcis_anchor_batches",
    )

    def __str__(self) -> str:
        return f"EPCIS batch {self.root[:10]} ({self.item_count} events)"
