"""Reads kept for the length of one request.

A page asks several selectors for the same small facts (the address → name map, the
stock a member may see): each would otherwise read them again. Inside `kept_for_request`
(the `webapp.edge.RequestMemo` middleware opens one around every GET and HEAD) `memo`
computes a value once and hands it out again; outside one (tasks, commands, writes) it
computes every time, so nothing is ever read stale across requests or after a write.

`shared` keeps a costly report a few seconds in the shared cache, for every process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.core.cache import cache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What a cache that cannot be reached raises (Redis down, refused, reset).
CACHE_UNREACHABLE = (RedisError, OSError)

_kept: ContextVar[dict[Hashable, Any] | None] = ContextVar("provenant_request_memo", default=None)


@contextmanager
def kept_for_request() -> Iterator[None]:
    """Keep `memo`'s values until the block ends."""
    token = _kept.set({})
    try:
        yield
    finally:
        _kept.reset(token)


def memo(key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`, once per `key` inside `kept_for_request`, every time outside it."""
    kept = _kept.get()
    if kept is None:
        return compute()
    if key not in kept:
        kept[key] = compute()
    value: T = kept[key]
    return value


def shared(key: str, seconds: int, compute: Callable[[], T]) -> T:
    """`compute()`, kept `seconds` in the shared cache (Redis in production) under `key`, so
    every web process hands out one computation until it expires; `seconds` 0 computes
    every time. A cache that cannot be reached is passed by: the value is computed, as if
    nothing were kept."""
    if seconds <= 0:
        return compute()
    try:
        found = cache.get(key)
    except CACHE_UNREACHABLE as error:
        log.warning("cache unavailable, computing %s afresh: %s", key, error)
        return compute()
    if found is not None:
        kept: T = found
        return kept
    value = compute()
    try:
        cache.set(key, value, seconds)
    except CACHE_UNREACHABLE as error:
        log.warning("cache unavailable, %s not kept: %s", key, error)
    return value
