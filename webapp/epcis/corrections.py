"""Error declarations with corrective events (`errorDeclaration.correctiveEventIDs`).

- The links: an `EpcisCorrection` per corrective eventID of a declared event. Either side
  may come first: a declaration links the capturer's events already stored under those
  eventIDs, and each newly captured event of the capturer fills the links waiting for its
  eventID (`corrections_found`).
- The chain: a fact stays a fact, but one the capturer can still take back is taken back
  by its own operation. A shipping that became a handoff still open is cancelled
  (`handoff_cancel`, idempotency key `epcis-correction:<event hash>`, with `:<n>` for the
  n-th further handoff of a multi-lot shipping). Anything else (a handoff answered, a
  lot registered, a bundle, a transformation) keeps its chain effect: only the declaration
  is recorded.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q

from webapp.chain.models import ChainEvent
from webapp.epcis.models import EpcisCorrection, EpcisEvent
from webapp.lots.services import handoff_cancel
from webapp.operations.models import Operation
from webapp.organisations.models import Organisation
from webapp.projections.models import HandoffVersion


def _initiated_handoff(operation: Operation) -> int | None:
    """The handoff a mined handoff.initiate opened (None before its log is mirrored)."""
    if not operation.transaction_hash:
        return None
    found = (
        ChainEvent.objects.filter(
            chain_id=operation.chain_id,
            event="HandoffInitiated",
            transaction_hash=operation.transaction_hash,
        )
        .values_list("args", flat=True)
        .first()
    )
    return int(found["handoffId"]) if found else None


def correction_undo(*, organisation: Organisation, erroneous: EpcisEvent) -> list[Operation]:
    """Cancel the handoffs still open that the erroneous event (a shipping) opened; none
    for an event whose chain effect is not reversible. Refuses (ValidationError) while a
    shipping is still on its way to the chain: nothing to cancel yet, and later too late."""
    if erroneous.operation is None or erroneous.operation.action != "handoff.initiate":
        return []
    shipped = Operation.objects.filter(
        organisation_id=erroneous.operation.organisation_id,
        action="handoff.initiate",
        idempotency_key__startswith=f"epcis:{erroneous.event_hash}:",
    )
    cancelled: list[Operation] = []
    for operation in sorted(shipped, key=lambda o: int(o.idempotency_key.rsplit(":", 1)[1])):
        if operation.status == Operation.Status.FAILED:
            continue  # nothing was handed off
        handoff_id = _initiated_handoff(operation)
        if handoff_id is None:
            raise ValidationError(
                {
                    "errorDeclaration": [
                        "The shipping is not on the chain yet (its handoff is "
                        f"{operation.status}); declare the error again once it is, and its "
                        "handoff is cancelled."
                    ]
                }
            )
        handoff = HandoffVersion.objects.filter(
            chain_id=operation.chain_id, handoff_id=handoff_id, block_to__isnull=True
        ).first()
        if handoff is None or handoff.status != "open":
            continue  # answered already: the fact stands
        key = f"epcis-correction:{erroneous.event_hash}"
        cancelled.append(
            handoff_cancel(
                organisation=organisation,
                handoff_id=handoff_id,
                idempotency_key=key if not cancelled else f"{key}:{len(cancelled)}",
            )
        )
    return cancelled


def _named(organisation_id: Any, ids: list[str]) -> dict[str, EpcisEvent]:
    """The capturer's stored events under these eventIDs (or event hashes)."""
    rows = EpcisEvent.objects.filter(
        Q(event_id__in=ids) | Q(event_hash__in=ids),
        organisation_id=organisation_id,
        source=EpcisEvent.Source.CAPTURED,
    )
    found: dict[str, EpcisEvent] = {}
    for row in rows.order_by("id"):
        for name in (row.event_id, row.event_hash):
            found.setdefault(name, row)
    return found


def corrections_link(*, erroneous: EpcisEvent, declaration: dict[str, Any]) -> None:
    """Record the corrective eventIDs of a declaration, linked to those already stored."""
    ids = [i for i in declaration.get("correctiveEventIDs") or [] if isinstance(i, str)]
    ids = list(dict.fromkeys(ids))
    stored = _named(erroneous.organisation_id, ids)
    EpcisCorrection.objects.bulk_create(
        [
            EpcisCorrection(erroneous=erroneous, corrective_event_id=i, corrective=stored.get(i))
            for i in ids
        ],
        ignore_conflicts=True,
    )


def corrections_found(*, organisation: Organisation, event_hashes: list[str]) -> None:
    """Link newly captured events to the declarations that were waiting for them."""
    waiting = EpcisCorrection.objects.filter(
        corrective__isnull=True, erroneous__organisation=organisation
    )
    if not event_hashes or not waiting.exists():
        return
    rows = EpcisEvent.objects.filter(event_hash__in=event_hashes).values_list(
        "id", "event_id", "event_hash"
    )
    names: dict[str, int] = {}
    for pk, event_id, event_hash in rows:
        if event_id:
            names.setdefault(event_id, pk)
        names.setdefault(event_hash, pk)
    for link in waiting.filter(corrective_event_id__in=list(names)):
        link.corrective_id = names[link.corrective_event_id]
        link.save(update_fields=["corrective"])
