"""Chain ids an operation refers to, and whether they still name the same thing.

An answer to a handoff (accept, reject, cancel) carries the handoff's id. Ids are handed
out by the chain in order, so after a reorganisation removes the block that opened a
handoff, the next offer on the new chain can get the same id. An answer signed for the old
offer must then not be applied to the new one: what the id named when the answer was
queued (sender, receiver, lot, quantity, initiating transaction) is kept with the
operation and compared with the chain before the answer is signed or sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.exceptions import TransactionNotFound

from webapp.chain.models import ChainEvent
from webapp.operations.calls import ContractCall
from webapp.operations.models import Operation
from webapp.projections.models import HandoffVersion

HANDOFF_ANSWERS = {"handoff.accept", "handoff.reject", "handoff.cancel"}


@dataclass(frozen=True)
class Named:
    """The outcome of a comparison: `ok`, or `wait` (the referenced fact is still on its way
    to the chain), or a `reason` the operation fails with."""

    ok: bool = False
    wait: str = ""
    reason: str = ""


def references_expected(*, chain_id: int, action: str, call: ContractCall) -> dict[str, Any]:
    """What the ids in `call` name now, as seen by the mirror (stored on the operation)."""
    if action not in HANDOFF_ANSWERS:
        return {}
    handoff_id = int(call.args[0])  # every handoff answer names the handoff first
    handoff = HandoffVersion.objects.filter(
        chain_id=chain_id, handoff_id=handoff_id, block_to__isnull=True
    ).first()
    if handoff is None:
        return {}
    initiated = (
        ChainEvent.objects.filter(
            chain_id=chain_id, event="HandoffInitiated", args__handoffId=handoff_id
        )
        .order_by("-block_number")
        .values_list("transaction_hash", flat=True)
        .first()
    )
    return {
        "handoff": {
            "id": handoff_id,
            "lot_id": str(int(handoff.lot_id)),
            "sender": handoff.sender,
            "receiver": handoff.receiver,
            "quantity": str(int(handoff.quantity)),
            "initiated_in": initiated or "",
        }
    }


def references_check(w3: Web3, contracts: dict[str, Any], operation: Operation) -> Named:
    """Whether the chain ids in the operation's call still name what they named."""
    expected = (operation.expects or {}).get("handoff")
    if not expected:
        return Named(ok=True)
    handoff_id = int(expected["id"])
    lot_id, quantity = int(expected["lot_id"]), int(expected["quantity"])
    sender = Web3.to_checksum_address(expected["sender"])
    receiver = Web3.to_checksum_address(expected["receiver"])
    lots = contracts["Lots"]
    escrow = lots.functions.handoffEscrow(handoff_id, sender, receiver).call()
    open_quantity = int(lots.functions.balanceOf(escrow, lot_id).call())
    if open_quantity == quantity:
        return Named(ok=True)
    offer = f"{quantity} of lot {lot_id} from {sender}"
    if open_quantity:
        return Named(
            reason=f"handoff {handoff_id} now names a different offer ({open_quantity} of lot"
            f" {lot_id}) than the one this answers ({offer}); the original left the chain"
        )
    initiated_in = str(expected.get("initiated_in") or "")
    if initiated_in and _in_flight(w3, operation.chain_id, initiated_in):
        return Named(wait=f"waiting for handoff {handoff_id} ({offer}) to be on the chain again")
    other = (
        HandoffVersion.objects.filter(
            chain_id=operation.chain_id, handoff_id=handoff_id, block_to__isnull=True
        )
        .exclude(sender=sender, lot_id=lot_id, quantity=quantity)
        .first()
    )
    if other is not None:
        return Named(
            reason=f"handoff {handoff_id} now names a different offer ({int(other.quantity)} of"
            f" lot {int(other.lot_id)} from {other.sender}) than the one this answers"
            f" ({offer}); the original left the chain"
        )
    return Named(reason=f"handoff {handoff_id} ({offer}) is no longer open on the chain")


def _in_flight(w3: Web3, chain_id: int, tx_hash: str) -> bool:
    """The transaction is on its way: an operation still follows it, or the node holds it
    without having mined it."""
    if Operation.objects.filter(
        chain_id=chain_id,
        transaction_hash=tx_hash,
        status__in=[Operation.Status.QUEUED, Operation.Status.SUBMITTED, Operation.Status.MINED],
    ).exists():
        return True
    try:
        tx = w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return False
    return tx.get("blockNumber") is None
