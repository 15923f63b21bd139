"""The streams' consumer of the event store: it does nothing with new events (deliveries
read the store themselves, never past this consumer's cursor), and on a reorganisation it
turns every delivered fact the reorganisation removed into a retraction message.

It runs after the EPCIS consumer (so after the projections), which means a rollback
reaches it first, while the removed events and the projections built from them are
still there: the same visibility and filter that let a fact out decide its retraction.
"""

from __future__ import annotations

from collections.abc import Sequence

from webapp.chain.models import ChainEvent
from webapp.streams.retractions import streams_rollback
from webapp.streams.selectors import CONSUMER_NAME


class StreamRetractions:
    name = CONSUMER_NAME
    kinds: frozenset[str] | None = None
    after = ("epcis",)

    def apply(self, events: Sequence[ChainEvent], *, chain_id: int) -> None:
        return None

    def rollback(self, to_block: int, *, chain_id: int) -> None:
        streams_rollback(chain_id=chain_id, to_block=to_block)
