"""Every sensor reading is provable: readings are batched per anchoring organisation under a
Merkle root anchored on chain with `Anchors.anchor(root, "SENSOR_READINGS", n, "")`.

The flow:

1. When readings are recorded (`sensor_readings_record`'s hook, in the storing
   transaction), each gets an `AnchoredReading` row naming the organisation that anchors
   it: the capturing organisation for an EPCIS event's readings, the device's owner for a
   device's (as the registered `device_owners_register` resolvers say). A reading whose
   owner is not known yet waits, and is asked about again on each run.
2. The periodic run (`readings_anchor`, the Celery beat task ``readings-anchor``) closes a
   batch of an organisation when it holds `MONITORING_ANCHOR_BATCH_SIZE` readings (default
   1,000) or when its oldest reading has waited `MONITORING_ANCHOR_MAX_WAIT_SECONDS`
   (default 60). The readings are taken in recording order; each gets the batch and its
   leaf index, and the batch its anchoring operation, in one database transaction, so a
   reading is batched once. The leaves are the readings' canonical items
   (`contracts.proofs.readings.reading_item`: lot, time, type, values, unit, device id
   and sequence number, location, source), which anyone holding a reading recomputes.
3. The mirrored `RootAnchored` log gives the batch its transaction hash, log index and
   block (`readings_anchors_record`, run by the chain consumer `ReadingAnchors` as logs
   are mirrored and by every periodic run). A failed anchor is queued again under a new
   idempotency key; a reorganisation that removes a recorded anchor's block clears what
   the batch recorded (`ReadingAnchors.rollback`), and the re-mined log is recorded once
   mirrored.
4. `readings_proofs` gives readings' ``provenant-anchored-item/1`` proofs, rebuilt from
   the stored readings: a reading altered after it was anchored no longer proves.

The shared mechanics (queueing, retrying, recording, forgetting, proving) are
`webapp.operations.anchors`', as for captured EPCIS events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from contracts.proofs.readings import READINGS_KIND, reading_item
from webapp.bulk import server_bound
from webapp.chain.chain_client import chain
from webapp.chain.models import ChainEvent
from webapp.monitoring.models import AnchoredReading, ReadingAnchorBatch, SensorReading
from webapp.operations.anchors import AnchorKind, NotAnchored
from webapp.organisations.models import Organisation

ANCHORS = AnchorKind(action="monitoring.anchor", label=READINGS_KIND, key="readings-anchor")

#: Device id -> id of the organisation that owns the device, for the ids it knows.
DeviceOwners = Callable[[Collection[str]], Mapping[str, int]]
_device_owners: list[DeviceOwners] = []


def device_owners_register(resolver: DeviceOwners) -> None:
    """Let `resolver` say who owns devices: their readings are anchored by that owner."""
    if resolver not in _device_owners:
        _device_owners.append(resolver)


def device_owners_unregister(resolver: DeviceOwners) -> None:
    if resolver in _device_owners:
        _device_owners.remove(resolver)


def batch_size() -> int:
    return int(getattr(settings, "MONITORING_ANCHOR_BATCH_SIZE", 1000))


def max_wait() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "MONITORING_ANCHOR_MAX_WAIT_SECONDS", 60)))


def sensor_reading_item(reading: SensorReading) -> dict[str, Any]:
    """The batch item (Merkle leaf preimage) of a stored reading."""
    return reading_item(
        lot_id=int(reading.lot_id),
        time=reading.time,
        type=reading.type,
        value=reading.value,
        min_value=reading.min_value,
        max_value=reading.max_value,
        mean_value=reading.mean_value,
        unit=reading.unit,
        device_id=reading.device_id,
        device_seq=reading.device_seq,
        latitude=reading.latitude,
        longitude=reading.longitude,
        source=reading.source,
    )


def _owners(device_ids: Collection[str]) -> dict[str, int]:
    owners: dict[str, int] = {}
    for resolver in _device_owners:
        wanted = {d for d in device_ids if d not in owners}
        if wanted:
            owners.update({d: o for d, o in resolver(wanted).items() if d in wanted})
    return owners


def readings_queue(readings: Sequence[SensorReading]) -> None:
    """Put newly stored readings in line for a batch (the `on_readings_recorded` hook)."""
    if not readings:
        return
    event_ids = {r.epcis_event_id for r in readings if r.epcis_event_id is not None}
    capturers = dict(
        SensorReading.objects.filter(epcis_event_id__in=event_ids)
        .values_list("epcis_event_id", "epcis_event__organisation_id")
        .distinct()
        if event_ids
        else []
    )
    owners = _owners({r.device_id for r in readings if r.device_id and r.epcis_event_id is None})
    anchorers = [
        capturers.get(r.epcis_event_id) if r.epcis_event_id is not None else owners.get(r.device_id)
        for r in readings
    ]
    if connection.vendor == "postgresql":  # one statement from two arrays, not a row each
        server_bound(
            f"INSERT INTO {AnchoredReading._meta.db_table} (reading_id, organisation_id) "
            "SELECT * FROM unnest(%b::bigint[], %b::bigint[]) ON CONFLICT DO NOTHING",
            [[r.pk for r in readings], anchorers],
        )
        return
    AnchoredReading.objects.bulk_create(
        [
            AnchoredReading(reading=r, organisation_id=organisation)
            for r, organisation in zip(readings, anchorers, strict=True)
        ],
        ignore_conflicts=True,
    )


def _resolve_waiting() -> int:
    """Name the anchoring organisation of the waiting readings whose owner is now known."""
    waiting = AnchoredReading.objects.filter(organisation__isnull=True, batch__isnull=True)
    device_ids = set(
        waiting.exclude(reading__device_id="")
        .values_list("reading__device_id", flat=True)
        .distinct()[:1000]
    )
    resolved = 0
    for device_id, organisation_id in _owners(device_ids).items():
        resolved += waiting.filter(reading__device_id=device_id).update(
            organisation_id=organisation_id
        )
    return resolved


def _close_one(organisation: Organisation, now: datetime) -> ReadingAnchorBatch | None:
    """Build, store and queue the next batch of `organisation`, if one is due."""
    size = batch_size()
    with transaction.atomic():
        rows = list(
            AnchoredReading.objects.filter(organisation=organisation, batch__isnull=True)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("reading")
            .order_by("reading_id")[:size]
        )
        if not rows:
            return None
        oldest = min(r.reading.created_at for r in rows)
        if len(rows) < size and oldest > now - max_wait():
            return None
        items = [sensor_reading_item(r.reading) for r in rows]
        batch, created = ANCHORS.batch_create(
            ReadingAnchorBatch, organisation=organisation, items=items
        )
        for index, row in enumerate(rows):
            row.batch, row.index = batch, index
        # The very same readings, batched before, join that batch at the same leaves.
        AnchoredReading.objects.bulk_update(rows, ["batch", "index"], batch_size=1000)
        return batch if created else None


def readings_anchor(*, now: datetime | None = None) -> list[ReadingAnchorBatch]:
    """Close every reading batch that is due (by size or by age) and queue its anchor;
    then record the anchors mirrored since. Returns the batches built by this run."""
    now = now or timezone.now()
    _resolve_waiting()
    waiting = set(
        AnchoredReading.objects.filter(batch__isnull=True, organisation__isnull=False)
        .values_list("organisation_id", flat=True)
        .distinct()
    )
    built = ANCHORS.close_due(
        organisation_ids=waiting, close=lambda organisation: _close_one(organisation, now)
    )
    ANCHORS.retry_failed(ReadingAnchorBatch.objects.all())
    readings_anchors_record()
    return built


def readings_anchors_record(*, batch_ids: Collection[int] | None = None) -> int:
    """Record the mirrored `RootAnchored` log of each waiting batch (of `batch_ids`, or
    every one); returns how many were recorded."""
    batches = ReadingAnchorBatch.objects.all()
    if batch_ids is not None:
        batches = batches.filter(id__in=batch_ids)
    return ANCHORS.record(batches)


def readings_anchors_forget(*, chain_id: int, to_block: int) -> int:
    """Clear the anchors recorded above `to_block` (a reorganisation removed them); the
    batches keep their readings and operation, and record the re-mined log when it comes."""
    return ANCHORS.forget(ReadingAnchorBatch.objects.all(), chain_id=chain_id, to_block=to_block)


def batch_items(batch: ReadingAnchorBatch) -> list[dict[str, Any]]:
    """The batch's items in leaf order, rebuilt from its stored readings."""
    rows = AnchoredReading.objects.filter(batch=batch).select_related("reading")
    by_index: dict[int, SensorReading] = {}
    for row in rows.order_by("index", "reading_id"):
        if row.index is not None:
            by_index.setdefault(row.index, row.reading)
    return [sensor_reading_item(by_index[i]) for i in sorted(by_index)]


def readings_proofs(readings: Sequence[SensorReading]) -> dict[int, dict[str, Any]]:
    """Reading id -> its ``provenant-anchored-item/1`` proof, for the readings of
    `readings` whose batch's anchor is recorded (the others are left out). Raises
    ProofUnavailable when the node cannot give a proof now."""
    rows = AnchoredReading.objects.filter(
        reading__in=[r.id for r in readings], batch__isnull=False
    ).select_related("batch")
    by_batch: dict[int, list[AnchoredReading]] = defaultdict(list)
    for row in rows:
        by_batch[row.batch_id].append(row)  # type: ignore[index]
    readings_anchors_record(batch_ids=list(by_batch))
    proofs: dict[int, dict[str, Any]] = {}
    batches = ReadingAnchorBatch.objects.filter(id__in=list(by_batch)).exclude(
        anchor_transaction_hash=""
    )
    for batch in batches.order_by("id"):
        members = by_batch[batch.id]
        try:
            built = ANCHORS.proofs(
                batch,
                items=batch_items(batch),
                indexes=[int(m.index) for m in members if m.index is not None],
                connect=lambda: chain(),
            )
        except NotAnchored:
            continue
        proofs.update(zip([m.reading_id for m in members], built, strict=True))
    return proofs


class ReadingAnchors:
    """Records reading batches' anchors as their `RootAnchored` logs are mirrored, and
    forgets them when a reorganisation removes their blocks."""

    name = "monitoring-anchors"
    kinds: frozenset[str] | None = frozenset({"RootAnchored"})
    after: tuple[str, ...] = ("operations",)

    def apply(self, events: Sequence[ChainEvent], *, chain_id: int) -> None:
        if events:
            readings_anchors_record()

    def rollback(self, to_block: int, *, chain_id: int) -> None:
        readings_anchors_forget(chain_id=chain_id, to_block=to_block)
