"""A lot's reading evidence: the readings in and around its excursions, each with the
proof that it was anchored on chain (``provenant-reading-evidence/1``, described and checked
by `contracts.proofs.verify.readings`; ``python -m contracts.proofs.verify pack.json``).

The excursions are given (the rules decide what an excursion is): each is widened by a
margin, and every reading of the lot measured in a widened window is listed, in time
order. An anchored reading comes with its ``provenant-anchored-item/1`` proof, rebuilt from
the node (leaf, Merkle path, and the `RootAnchored` log's block, transaction and receipt);
a reading whose batch is not anchored yet is listed under ``pending``, stated but not
proven.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q

from contracts.proofs.readings import canonical_time
from contracts.proofs.verify.readings import READINGS_PACK_FORMAT
from webapp.chain.chain_client import deployment
from webapp.monitoring.anchoring import readings_proofs, sensor_reading_item
from webapp.monitoring.models import SensorReading

#: A pack holds at most this many readings: narrower windows, or several packs, for more.
MAX_READINGS = 5000


def lot_evidence(
    lot_id: int,
    excursions: list[tuple[datetime, datetime]],
    margin: timedelta = timedelta(minutes=30),
) -> dict[str, Any]:
    """The reading evidence pack of `lot_id` for `excursions` (start, end), each widened
    by `margin`. Raises ValueError for no excursion, one that ends before it starts, a
    negative margin or more than MAX_READINGS readings; ProofUnavailable when the node
    cannot give a proof now."""
    if not excursions:
        raise ValueError("Name at least one excursion (its start and end).")
    if margin < timedelta(0):
        raise ValueError("The margin around excursions cannot be negative.")
    windows = Q()
    for start, end in excursions:
        if end < start:
            raise ValueError(f"The excursion from {start} ends before it starts ({end}).")
        windows |= Q(time__gte=start - margin, time__lte=end + margin)
    found = SensorReading.objects.filter(windows, lot_id=lot_id).order_by("time", "id")
    readings = list(found[: MAX_READINGS + 1])
    if len(readings) > MAX_READINGS:
        raise ValueError(
            f"More than {MAX_READINGS} readings of lot {lot_id} fall in these windows; ask "
            "for narrower windows or a smaller margin."
        )
    proofs = readings_proofs(readings)
    proven = [r for r in readings if r.id in proofs]
    return {
        "format": READINGS_PACK_FORMAT,
        "generated_at": datetime.now(tz=UTC).isoformat(),
        "chain_id": settings.CHAIN_ID,
        "contracts": {"Anchors": deployment().addresses["Anchors"]},
        "lot_id": int(lot_id),
        "excursions": [
            {"start": canonical_time(start), "end": canonical_time(end)}
            for start, end in excursions
        ],
        "margin_seconds": int(margin.total_seconds()),
        "readings": [sensor_reading_item(r) for r in proven],
        "pending": [sensor_reading_item(r) for r in readings if r.id not in proofs],
        "proofs": [proofs[r.id] for r in proven],
    }
