"""The warehouse as a consumer of the event store.

It runs after the projections (it reads them): each batch rewrites the dimension and fact
rows the batch's events touched, in the pipeline's transaction, so the warehouse and its
cursor move together. A reorganisation removes the facts born above the fork and rewrites
the rest as of the fork (`warehouse_retract`).

A no-op on a database other than PostgreSQL (the embedded SQLite of a first run has no
``reporting`` schema).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from webapp.chain.models import ChainEvent
from webapp.exports.warehouse.refresh import touched, warehouse_refresh, warehouse_retract

NAME = "warehouse"


class WarehouseRefresh:
    name = NAME
    kinds: frozenset[str] | None = None
    after: tuple[str, ...] = ("projections",)

    def apply(self, events: Sequence[ChainEvent], *, chain_id: int) -> None:
        if connection.vendor != "postgresql" or not events:
            return
        warehouse_refresh(touched(events), chain_id=chain_id)

    def rollback(self, to_block: int, *, chain_id: int) -> None:
        if connection.vendor != "postgresql":
            return
        warehouse_retract(chain_id=chain_id, to_block=to_block)
