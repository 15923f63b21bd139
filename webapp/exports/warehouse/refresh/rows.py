"""Projection rows as of a block in SQL, and the small conversions every table needs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime


def as_of_sql(alias: str, block: int | None) -> str:
    """`as_of` in SQL, for the versions of table `alias`."""
    if block is None:
        return f"{alias}.block_to IS NULL"
    b = int(block)
    return f"{alias}.block_from <= {b} AND ({alias}.block_to IS NULL OR {alias}.block_to > {b})"


def day_key(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    day = moment.astimezone(UTC).date()
    return day.year * 10000 + day.month * 100 + day.day


def ids_text(values: Iterable[int]) -> list[str]:
    """uint256 ids as text for a ``::numeric[]`` parameter (they can exceed bigint)."""
    return [str(v) for v in values]
