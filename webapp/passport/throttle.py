"""A fixed-window rate limit per client address, counted in Django's cache.

Used for what the public can ask of the node through us (evidence packs): the window is
the current minute, hour or day, so the counter's key names its window and simply expires;
a refused client is told how long until the next window opens.
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "30/hour" -> (30, 3600); ImproperlyConfigured for anything else."""
    count, _, period = rate.partition("/")
    if not count.strip().isdecimal() or period.strip() not in PERIODS:
        raise ImproperlyConfigured(
            f"rate {rate!r} is not N/second, N/minute, N/hour or N/day (e.g. 30/hour)"
        )
    return int(count), PERIODS[period.strip()]


def throttle_hit(*, scope: str, client: str, rate: str) -> int | None:
    """Count one request of `client`; None when within `rate`, else the seconds until the
    window resets (for Retry-After)."""
    allowed, period = parse_rate(rate)
    now = time.time()
    window = int(now // period)
    key = f"throttle:{scope}:{client}:{window}"
    cache.add(key, 0, timeout=period + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: count this one as the first
        cache.set(key, 1, timeout=period + 1)
        count = 1
    if count <= allowed:
        return None
    return max(1, int((window + 1) * period - now) + 1)
