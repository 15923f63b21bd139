"""Every captured EPCIS event is provable: captured events are batched per capturing
organisation under a Merkle root, anchored on chain with `Anchors.anchor`.

A batch closes when it holds `EPCIS_ANCHOR_BATCH_SIZE` events (default 1,000) or when its
oldest event has waited `EPCIS_ANCHOR_MAX_WAIT_SECONDS` (default 60). Its items are, in
capture order, ``{"eventHash": <CBV 2.0 hash>, "eventID": <eventID as given>}`` (the leaf
encoding is `contracts.proofs.merkle`'s: canonical JSON, hashed twice). The batch and the
marks on its events are written with the anchoring operation, in one database transaction,
so a batch is built once; the operation's idempotency key is derived from the root, so a
retry queues nothing twice. The anchor is signed by the capturing organisation's key.

Once the `RootAnchored` log is mirrored, the batch records its transaction hash and log
index, and `epcis_event_proof` gives an event's ``provenant-anchored-item/1`` proof, which
``provenant-verify`` checks offline. An anchor whose operation failed (the key store or the
node refused it for good) is queued again by the next run, under a new idempotency key
(`epcis-anchor:<root>:<attempt>`); a reorganisation that removes a recorded anchor's block
clears what the batch recorded (`epcis_anchors_forget`), and the log of the re-mined
transaction is recorded once it is mirrored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webapp.chain.chain_client import chain
from webapp.epcis.models import EpcisAnchorBatch, EpcisEvent
from webapp.epcis.selectors import events_visible_to
from webapp.operations.anchors import AnchorKind
from webapp.operations.anchors import NotAnchored as NotAnchored  # callers catch it
from webapp.operations.anchors import ProofUnavailable as ProofUnavailable  # callers catch it
from webapp.organisations.models import Organisation

ANCHORS = AnchorKind(action="epcis.anchor", label="EPCIS", key="epcis-anchor")
ACTION = ANCHORS.action
KIND = ANCHORS.kind


def batch_size() -> int:
    return int(getattr(settings, "EPCIS_ANCHOR_BATCH_SIZE", 1000))


def max_wait() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "EPCIS_ANCHOR_MAX_WAIT_SECONDS", 60)))


def event_item(event: EpcisEvent) -> dict[str, str]:
    """The batch item of a captured event."""
    return {"eventHash": event.event_hash, "eventID": event.event_id}


def _pending() -> Any:
    return EpcisEvent.objects.filter(
        source=EpcisEvent.Source.CAPTURED,
        organisation__isnull=False,
        anchor_batch__isnull=True,
    )


def _close_one(organisation: Organisation, now: datetime) -> EpcisAnchorBatch | None:
    """Build, store and queue the next batch of `organisation`, if one is due."""
    size = batch_size()
    with transaction.atomic():
        events = list(
            _pending()
            .filter(organisation=organisation)
            .select_for_update(skip_locked=True)
            .order_by("created_at", "id")[:size]
        )
        if not events:
            return None
        if len(events) < size and events[0].created_at > now - max_wait():
            return None
        items = [event_item(e) for e in events]
        batch, created = ANCHORS.batch_create(
            EpcisAnchorBatch, organisation=organisation, items=items, columns={"items": items}
        )
        # The very same events, batched before and unmarked since, join that batch.
        EpcisEvent.objects.filter(id__in=[e.id for e in events]).update(anchor_batch=batch)
        return batch if created else None


def epcis_anchor(*, now: datetime | None = None) -> list[EpcisAnchorBatch]:
    """Close every batch that is due (by size or by age) and queue its anchor; then record
    the anchors that were mirrored since. Returns the batches built by this run."""
    now = now or timezone.now()
    waiting = set(_pending().values_list("organisation_id", flat=True).distinct())
    built = ANCHORS.close_due(
        organisation_ids=waiting, close=lambda organisation: _close_one(organisation, now)
    )
    ANCHORS.retry_failed(EpcisAnchorBatch.objects.all())
    epcis_anchors_record()
    return built


def epcis_anchors_forget(*, chain_id: int, to_block: int) -> int:
    """Clear the anchors recorded above `to_block` (a reorganisation removed them); the
    batches keep their events and operation, and record the re-mined log when it comes."""
    return ANCHORS.forget(EpcisAnchorBatch.objects.all(), chain_id=chain_id, to_block=to_block)


def epcis_anchors_record(*, batch_ids: list[int] | None = None) -> int:
    """Give each batch (of `batch_ids`, or every one) whose anchor was mined and mirrored
    its `RootAnchored` log (the transaction hash, log index and block); returns how many
    were recorded."""
    batches = EpcisAnchorBatch.objects.all()
    if batch_ids is not None:
        batches = batches.filter(id__in=batch_ids)
    return ANCHORS.record(batches)


def epcis_event_proof(event: EpcisEvent) -> dict[str, Any]:
    """The ``provenant-anchored-item/1`` proof of a captured event: its item, leaf and
    Merkle path, and the chain proof of the `RootAnchored` log of its batch.

    Raises NotAnchored when the event is not in an anchored batch yet, ProofUnavailable
    when the node cannot give the proof now."""
    if event.source != EpcisEvent.Source.CAPTURED:
        raise NotAnchored(
            "This event is derived from a chain fact: prove that fact instead of an anchor."
        )
    # From the database, not the instance: the batch may have been built since it was read.
    batch = EpcisAnchorBatch.objects.filter(events=event).first()
    if batch is None:
        raise NotAnchored(
            "This event is not in an anchored batch yet: captured events are anchored in "
            "batches within about a minute; ask again later."
        )
    if not batch.anchor_transaction_hash:
        epcis_anchors_record(batch_ids=[batch.id])
        batch.refresh_from_db()
    item = event_item(event)
    try:
        index = batch.items.index(item)
    except ValueError as exc:
        raise NotAnchored("This event is not among its batch's items.") from exc
    (proof,) = ANCHORS.proofs(batch, items=batch.items, indexes=[index], connect=lambda: chain())
    return proof


def lot_event_proofs(*, organisation: Organisation, lot_ids: list[int]) -> list[dict[str, Any]]:
    """The anchoring proofs of the captured events about these lots that `organisation`
    may see and that are anchored already (in capture order), for a participant's evidence
    pack. Raises ProofUnavailable when the node cannot give one."""
    if not lot_ids:
        return []
    events = (
        events_visible_to(organisation=organisation)
        .filter(
            source=EpcisEvent.Source.CAPTURED,
            lot_ids__overlap=[str(i) for i in lot_ids],
            anchor_batch__isnull=False,
        )
        .order_by("created_at", "id")
    )
    found = list(events)
    batch_ids = sorted({e.anchor_batch_id for e in found if e.anchor_batch_id is not None})
    epcis_anchors_record(batch_ids=batch_ids)
    anchored = set(
        EpcisAnchorBatch.objects.filter(id__in=batch_ids)
        .exclude(anchor_transaction_hash="")
        .values_list("id", flat=True)
    )
    return [epcis_event_proof(e) for e in found if e.anchor_batch_id in anchored]
