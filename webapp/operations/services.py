"""Writes to operations."""

from __future__ import annotations

from collections.abc import Iterable

from webapp.operations.models import Operation


def operations_confirm(*, chain_id: int, mined: Iterable[tuple[str, int]]) -> int:
    """Mark confirmed the operations whose transactions' events reached the event store.

    `mined` holds (transaction hash, block number) pairs from one indexed batch; call it in
    the batch's database transaction so "confirmed" never runs ahead of the mirror.
    """
    by_hash = dict(mined)
    if not by_hash:
        return 0
    pending = Operation.objects.filter(
        chain_id=chain_id,
        transaction_hash__in=list(by_hash),
        status__in=[Operation.Status.SUBMITTED, Operation.Status.MINED],
    )
    confirmed = 0
    for operation in pending.select_for_update():
        operation.status = Operation.Status.CONFIRMED
        operation.confirmed_block = by_hash[operation.transaction_hash]
        operation.save(update_fields=["status", "confirmed_block", "updated_at"])
        confirmed += 1
    return confirmed


def operations_unconfirm(*, chain_id: int, above_block: int) -> int:
    """A reorganisation removed the blocks above `above_block`: their operations are only
    submitted again until the indexer sees their transactions on the new chain."""
    return Operation.objects.filter(
        chain_id=chain_id, status=Operation.Status.CONFIRMED, confirmed_block__gt=above_block
    ).update(status=Operation.Status.SUBMITTED, confirmed_block=None)
