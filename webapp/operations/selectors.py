"""Reads of operations."""

from __future__ import annotations

from datetime import datetime

from webapp.operations.models import Operation


def operations_in_flight(*, chain_id: int, sender: str, before: datetime | None = None) -> bool:
    """Whether the sender has operations queued or submitted (created before `before`).

    Their effects are not in the latest block yet, so a simulation against it may refuse
    what will succeed once they are mined.
    """
    rows = Operation.objects.filter(
        chain_id=chain_id,
        sender=sender,
        status__in=[Operation.Status.QUEUED, Operation.Status.SUBMITTED],
    )
    if before is not None:
        rows = rows.filter(created_at__lt=before)
    return rows.exists()
