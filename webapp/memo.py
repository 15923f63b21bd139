"""Reads kept for the length of one request.

A page asks several selectors for the same small facts (the address → name map, the
stock a member may see): each would otherwise read them again. Inside `kept_for_request`
(the `webapp.edge.RequestMemo` middleware opens one around every GET and HEAD) `memo`
computes a value once and hands it out again; outside one (tasks, commands, writes) it
computes every time, so nothing is ever read stale across requests or after a write.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

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
