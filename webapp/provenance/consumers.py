"""Notifications as a consumer of the event store (after the projections, whose lot
holdings say who a revocation affects): revocations for the holders downstream, rejected
handoffs for their sender."""

from __future__ import annotations

from collections.abc import Sequence

from webapp.chain.models import ChainEvent
from webapp.provenance.services import notifications_emit


class RevocationNotifications:
    name = "notifications"
    kinds: frozenset[str] | None = frozenset({"CertificateRevoked", "HandoffRejected"})
    after = ("projections",)  # who is affected is read from the projections

    def apply(self, events: Sequence[ChainEvent], *, chain_id: int) -> None:
        notifications_emit(chain_id=chain_id, events=events)

    def rollback(self, to_block: int, *, chain_id: int) -> None:
        """A notification already read cannot be taken back; a revocation that comes back
        on the new chain finds its notification there (keyed by certificate) and adds none."""
