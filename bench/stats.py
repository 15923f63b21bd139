"""Percentiles as the benchmarks print them."""

from __future__ import annotations

import math


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least `q` of them at or below it (NaN for
    none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
