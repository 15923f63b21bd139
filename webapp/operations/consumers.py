"""Operation confirmation as a consumer of the event store.

It runs after the projections, so an operation reads "confirmed" only once what it did is
visible in the portal.
"""

from __future__ import annotations

from collections.abc import Sequence

from webapp.chain.models import ChainEvent
from webapp.operations.services import operations_confirm, operations_unconfirm


class OperationConfirmation:
    name = "operations"
    kinds: frozenset[str] | None = None  # any event of an operation's transaction confirms it
    after = ("projections",)  # "confirmed" means "visible in the portal"

    def apply(self, events: Sequence[ChainEvent], *, chain_id: int) -> None:
        operations_confirm(
            chain_id=chain_id, mined={(e.transaction_hash, e.block_number) for e in events}
        )

    def rollback(self, to_block: int, *, chain_id: int) -> None:
        operations_unconfirm(chain_id=chain_id, above_block=to_block)
