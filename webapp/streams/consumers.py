"""The streams' consumer of the event store: it does nothing with new events (deliveries
read the store themselves, never past this consumer's cursor), and on a reorganisation it
turns every delivered fact the reorganisation removed into a retraction message.

It is registered last, so a rollback reaches it first, while the removed events and the
projections built from them are still there: the same visibility and filter that let a
fact out decide its retraction. It waits for the projections only (visibility reads them),
so a parked EPCIS consumer does not hold the webhooks up.
"""

from __future__ import annotations

from collections.abc import Sequence

from webapp.chain.models import ChainEvent
from webapp.streams.retractions import streams_rollback
from webapp.streams.selectors import CONSUMER_NAME


class StreamRetractions:
    name = CONSUMER_NAME
    kinds: frozenset[str] | None = None
    after = ("projections",)

    def apply(self, events: Sequence[ChainEvent], *, chain_id: int) -> None:
        return None

    def rollback(self, to_block: int, *, chain_id: int) -> None:
        streams_rollback(chain_id=chain_id, to_block=to_block)
