"""The projections as a consumer of the event store (the first the pipeline runs)."""

from __future__ import annotations

from collections.abc import Sequence

from webapp.chain.models import ChainEvent
from webapp.projections.projector import Projector


class ProjectionConsumer:
    name = Projector.CONSUMER
    kinds: frozenset[str] | None = None  # every event moves the cursor; unknown ones do nothing
    after: tuple[str, ...] = ()

    def apply(self, events: Sequence[ChainEvent], *, chain_id: int) -> None:
        Projector(chain_id).apply(events)

    def rollback(self, to_block: int, *, chain_id: int) -> None:
        Projector(chain_id).undo_after(to_block)
