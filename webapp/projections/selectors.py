"""Reads of the projections, now or as of a past block or time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from webapp.chain.models import Block
from webapp.projections.models import Balance, BundleContent


def block_at(*, chain_id: int, at: datetime) -> int | None:
    """The last mirrored block at or before time `at`.

    Projections change only in blocks that carry events, and every such block is in the
    blocks table, so the state as of `at` is the state as of this block.
    """
    return (
        Block.objects.filter(chain_id=chain_id, timestamp__lte=at)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )


def _as_of(rows: QuerySet[Any], block: int | None) -> QuerySet[Any]:
    if block is None:
        return rows.filter(block_to__isnull=True)
    return rows.filter(Q(block_to__isnull=True) | Q(block_to__gt=block), block_from__lte=block)


def _resolve(chain_id: int, block: int | None, at: datetime | None) -> int | None:
    if at is None:
        return block
    found = block_at(chain_id=chain_id, at=at)
    return -1 if found is None else found  # before the first block: nothing existed


def lot_holders(
    *, chain_id: int, lot_id: int, block: int | None = None, at: datetime | None = None
) -> dict[str, int]:
    """Who held how much of a lot: now, as of `block`, or as of time `at`."""
    rows = _as_of(
        Balance.objects.filter(chain_id=chain_id, lot_id=lot_id), _resolve(chain_id, block, at)
    )
    return {r.holder: r.quantity for r in rows}


def bundle_contents(
    *, chain_id: int, bundle_id: int, block: int | None = None, at: datetime | None = None
) -> dict[int, int]:
    """What a bundle contained: now, as of `block`, or as of time `at`."""
    rows = _as_of(
        BundleContent.objects.filter(chain_id=chain_id, bundle_id=bundle_id),
        _resolve(chain_id, block, at),
    )
    contents: dict[int, int] = {}
    for r in rows:  # a bundle may list the same lot twice
        contents[int(r.lot_id)] = contents.get(int(r.lot_id), 0) + r.quantity
    return contents
