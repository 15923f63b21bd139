"""Consumers of the event store: whatever follows the mirrored events with its own cursor.

A consumer has a ``name`` (its cursor's key), the event ``kinds`` it wants (None: all),
``after`` (names of consumers whose effects it relies on: it never gets ahead of them),
``apply(events, chain_id=...)`` for a batch in store order, and ``rollback(to_block,
chain_id=...)`` to undo what it did above a block when a reorganisation removed it. The
pipeline (`webapp.chain.pipeline`) owns the cursors: it calls ``apply`` inside the
transaction that moves the cursor, and ``rollback`` inside the indexer's reorg
transaction, so a consumer writes its effects and nothing else.

Consumers are listed, in the order they run, in ``settings.CHAIN_CONSUMERS`` (dotted paths
of classes built without arguments); this package imports none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from webapp.chain.models import ChainEvent


class Consumer(Protocol):
    name: str
    kinds: frozenset[str] | None
    after: tuple[str, ...]

    def apply(self, events: Sequence[ChainEvent], *, chain_id: int) -> None: ...

    def rollback(self, to_block: int, *, chain_id: int) -> None: ...


_registry: list[Consumer] = []
_loaded = False


def _load_settings() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    configured = [import_string(path)() for path in settings.CHAIN_CONSUMERS]
    _registry[:0] = configured  # the configured ones come first, in their order


def consumer_register(consumer: Consumer) -> None:
    """Add a consumer after those already registered; its name must be new."""
    _load_settings()
    if any(c.name == consumer.name for c in _registry):
        raise ValueError(f"a consumer named {consumer.name!r} is already registered")
    _registry.append(consumer)


def consumer_unregister(*, name: str) -> None:
    _load_settings()
    _registry[:] = [c for c in _registry if c.name != name]


def registered_consumers() -> list[Consumer]:
    """Every consumer, in the order the pipeline runs them."""
    _load_settings()
    return list(_registry)


def consumer_named(name: str) -> Consumer:
    for consumer in registered_consumers():
        if consumer.name == name:
            return consumer
    raise LookupError(f"no consumer named {name!r}")
