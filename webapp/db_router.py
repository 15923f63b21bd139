"""Reads that tolerate lag go to a PostgreSQL read replica, when the site has one.

A reporting read (the sustainability dashboard, search, the warehouse's and the lake's
readers) runs inside `lag_tolerant()`; with `PROVENANT_REPLICA_DATABASE_URL` set, its
queries go to the "replica" database, which trails the primary by the replication lag.
Everything else — every write, every read in a write's transaction, the operations a
person follows, the pages that confirm what they just did — stays on the primary. Without
a replica, `lag_tolerant()` changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import connections, models

REPLICA = "replica"
_TOLERANT: ContextVar[bool] = ContextVar("lag_tolerant", default=False)
P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def lag_tolerant_reads() -> Iterator[None]:
    token = _TOLERANT.set(True)
    try:
        yield
    finally:
        _TOLERANT.reset(token)


def lag_tolerant(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a view or selector whose reads may trail the primary."""

    @wraps(fn)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        with lag_tolerant_reads():
            return fn(*args, **kwargs)

    return wrapped


class ReplicaRouter:
    """Django database router: lag-tolerant reads to the replica, all else to default."""

    def db_for_read(self, model: type[models.Model], **hints: Any) -> str | None:
        if not _TOLERANT.get() or REPLICA not in settings.DATABASES:
            return None
        # Inside a write transaction, read what it wrote: stay on the primary.
        if connections["default"].in_atomic_block:
            return None
        return REPLICA

    def db_for_write(self, model: type[models.Model], **hints: Any) -> str | None:
        return "default"

    def allow_relation(self, obj1: models.Model, obj2: models.Model, **hints: Any) -> bool:
        return True  # the replica is the same database, later

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db != REPLICA  # a replica follows the primary's schema by replication
