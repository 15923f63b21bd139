"""Reading projection rows as of a block, and the small conversions every table needs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.db.models import Min, Q

from webapp.chain.models import Block


def as_of(block: int | None) -> Q:
    if block is None:
        return Q(block_to__isnull=True)
    return Q(block_from__lte=block) & (Q(block_to__isnull=True) | Q(block_to__gt=block))


def first_blocks(model: Any, key: str, ids: Iterable[int], chain_id: int) -> dict[int, int]:
    return {
        int(k): int(b)
        for k, b in model.objects.filter(chain_id=chain_id, **{f"{key}__in": list(ids)})
        .values(key)
        .annotate(first=Min("block_from"))
        .values_list(key, "first")
    }


def block_times(chain_id: int, numbers: set[int]) -> dict[int, datetime]:
    if not numbers:
        return {}
    return dict(
        Block.objects.filter(chain_id=chain_id, number__in=numbers).values_list(
            "number", "timestamp"
        )
    )


def day_key(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    day = moment.astimezone(UTC).date()
    return day.year * 10000 + day.month * 100 + day.day


def ids_text(values: Iterable[int]) -> list[str]:
    """uint256 ids as text for a ``::numeric[]`` parameter (they can exceed bigint)."""
    return [str(v) for v in values]
