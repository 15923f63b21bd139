"""What the submitter's sending and following share: the exception that makes an
operation wait, the transient errors, a call bound for sending, and the node lookups."""

from __future__ import annotations

from typing import Any

from requests.exceptions import ConnectionError as NodeUnreachable
from requests.exceptions import Timeout
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import BlockNotFound, TransactionNotFound

from webapp.chain.models import Checkpoint
from webapp.operations.calls import ContractCall, Unencodable
from webapp.operations.models import Operation
from webapp.operations.selectors import operations_in_flight

TRANSIENT = (NodeUnreachable, Timeout, ConnectionError, TimeoutError)


class SubmitLater(Exception):
    """The operation could not be sent now; it stays queued and is tried again."""


def wait(operation: Operation, reason: str) -> SubmitLater:
    Operation.objects.filter(id=operation.id, status=Operation.Status.QUEUED).update(
        waiting_reason=reason
    )
    return SubmitLater(reason)


def contract_call(contracts: dict[str, Any], call: ContractCall) -> ContractFunction:
    """The bound contract function `call` names; raises Unencodable when web3 cannot encode
    it (the call's own checks make that a defect, not an input)."""
    try:
        contract = contracts[call.contract]
        function: ContractFunction = contract.functions[call.function](*call.args)
        function._encode_transaction_data()  # values out of range fail here, not later
    except TRANSIENT:
        raise
    except Exception as exc:  # web3's MismatchedABI, eth_abi's EncodingError, OverflowError…
        raise Unencodable(unencodable_reason(exc)) from exc
    return function


def unencodable_reason(exc: BaseException) -> str:
    return (
        "the request cannot be sent to the chain: a value does not fit the contract's types"
        f" ({short(exc)})"
    )


def short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:300] + "…"
    return f"{type(exc).__name__}: {text}"


def node_knows(w3: Web3, tx_hash: str) -> bool:
    try:
        w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return False
    return True


def receipt_of(w3: Web3, tx_hash: str) -> Any:
    try:
        return w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return None


def submitted(operation: Operation) -> None:
    operation.status = Operation.Status.SUBMITTED
    operation.waiting_reason = ""
    Operation.objects.filter(id=operation.id, status=Operation.Status.QUEUED).update(
        status=Operation.Status.SUBMITTED, waiting_reason=""
    )


FOLLOWED = [Operation.Status.SUBMITTED, Operation.Status.MINED]


def earlier_may_be_missing(w3: Web3, operation: Operation) -> bool:
    """Whether the chain's refusal of `operation` may come from what its sender did before
    not being on chain yet, so that it is decided later instead of failed now: the
    sender's earlier operations are still queued or submitted, or the chain reorganised
    under the mirror (the block it has indexed to is no longer the node's), so operations
    it confirmed may have left the chain without showing it yet."""
    if operations_in_flight(
        chain_id=operation.chain_id, sender=operation.sender, before=operation.created_at
    ):
        return True
    mirrored = (
        Checkpoint.objects.filter(chain_id=operation.chain_id)
        .values_list("block_number", "block_hash")
        .first()
    )
    if mirrored is None or not mirrored[1]:
        return False
    try:
        block = w3.eth.get_block(mirrored[0])
    except BlockNotFound:
        return True  # the chain is now shorter than the mirror
    return bool(block["hash"].to_0x_hex().lower() != mirrored[1].lower())
