"""The transaction submitter: signs a queued operation with its organisation's key store,
sends the raw transaction, and follows it until it is mined.

Nonces: the sender's lock is held from reading the node's pending nonce until the node has
accepted the transaction, so two workers never sign the same nonce, and a transaction the
node refused never took one (no gap). The signed bytes and their hash are committed
*before* the send: if the worker dies after the node got them, the retry finds the hash on
the node instead of signing a second fact; if the node never got them, the retry sends the
same bytes again, or signs afresh when their nonce has gone to another transaction.

Every failure before the send (node down, key store down, sender busy) leaves the
operation queued with a `waiting_reason` the portal shows, and raises
:class:`SubmitLater`; the Celery task retries with backoff and the sweeper re-enqueues
anything a lost task left behind.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from eth_utils.crypto import keccak
from requests.exceptions import ConnectionError as NodeUnreachable
from requests.exceptions import Timeout
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import TransactionNotFound, Web3RPCError

from contracts.chain import TransactionReverted, build_transaction, replay_revert
from contracts.keystore import KeyStoreUnavailable
from webapp.chain.chain_client import system
from webapp.operations.locks import SenderBusy, sender_lock
from webapp.operations.models import Operation
from webapp.operations.selectors import operations_in_flight
from webapp.organisations.keys import signing_key

log = logging.getLogger(__name__)

TRANSIENT = (NodeUnreachable, Timeout, ConnectionError, TimeoutError)


class SubmitLater(Exception):
    """The operation could not be sent now; it stays queued and is tried again."""


def _wait(operation: Operation, reason: str) -> SubmitLater:
    Operation.objects.filter(id=operation.id, status=Operation.Status.QUEUED).update(
        waiting_reason=reason
    )
    return SubmitLater(reason)


def contract_call(contracts: dict[str, Any], call: dict[str, Any]) -> ContractFunction:
    """The bound contract function an operation's `call` describes."""
    contract = contracts[call["contract"]]
    function: ContractFunction = contract.functions[call["function"]](*call["args"])
    return function


def operation_send(*, operation_id: UUID | str) -> Operation:
    """Sign and send one queued operation; a no-op for any other status."""
    operation = Operation.objects.select_related("organisation").get(id=operation_id)
    if operation.status != Operation.Status.QUEUED:
        return operation
    organisation = operation.organisation
    try:
        store = signing_key(organisation, operation.sender)
        if store.address != operation.sender:
            raise KeyStoreUnavailable(
                f"the key store holds {store.address}, the operation is from {operation.sender}"
            )
    except KeyStoreUnavailable as exc:
        raise _wait(operation, f"key store unavailable: {exc}") from exc
    try:
        with sender_lock(operation.chain_id, operation.sender):
            operation.refresh_from_db()
            if operation.status != Operation.Status.QUEUED:
                return operation
            Operation.objects.filter(id=operation.id).update(attempts=operation.attempts + 1)
            w3, contracts = system()
            if operation.transaction_hash and _resume(w3, operation):
                return operation
            return _sign_and_send(w3, contracts.all, store, operation)
    except TRANSIENT as exc:
        raise _wait(operation, "the chain node is unreachable; retrying") from exc
    except SenderBusy as exc:
        raise _wait(operation, "waiting for this organisation's other transactions") from exc
    except KeyStoreUnavailable as exc:
        raise _wait(operation, f"key store unavailable: {exc}") from exc


def _resume(w3: Web3, operation: Operation) -> bool:
    """An earlier attempt signed this operation. True when that attempt is now settled."""
    if _node_knows(w3, operation.transaction_hash):
        _submitted(operation)
        return True
    pending = w3.eth.get_transaction_count(Web3.to_checksum_address(operation.sender), "pending")
    if pending == operation.nonce:
        _send_raw(w3, operation)  # the node never got it: the same bytes, the same hash
        return True
    # Its nonce went to another transaction (or the node forgot it): sign it afresh.
    operation.transaction_hash, operation.raw_transaction, operation.nonce = "", "", None
    operation.save(update_fields=["transaction_hash", "raw_transaction", "nonce", "updated_at"])
    return False


def _sign_and_send(
    w3: Web3, contracts: dict[str, Any], store: Any, operation: Operation
) -> Operation:
    sender = Web3.to_checksum_address(operation.sender)
    nonce = w3.eth.get_transaction_count(sender, "pending")
    try:
        tx = build_transaction(
            w3, sender, contract_call(contracts, operation.call), nonce=nonce
        )  # estimates gas: a call the chain refuses is never signed
    except TransactionReverted as exc:
        if operations_in_flight(
            chain_id=operation.chain_id, sender=operation.sender, before=operation.created_at
        ):
            # The refusal may depend on this sender's transactions still in flight
            # (a lot registered a moment ago): decide once they are mined.
            raise _wait(operation, "waiting for this organisation's earlier operations") from exc
        _fail(operation, str(exc))
        return operation
    raw = store.sign_transaction(tx)
    operation.nonce = nonce
    operation.raw_transaction = "0x" + raw.hex()
    operation.transaction_hash = "0x" + keccak(raw).hex()
    operation.save(update_fields=["nonce", "raw_transaction", "transaction_hash", "updated_at"])
    _send_raw(w3, operation)
    return operation


def _send_raw(w3: Web3, operation: Operation) -> None:
    try:
        w3.eth.send_raw_transaction(operation.raw_transaction)
    except Web3RPCError as exc:
        message = str(exc).lower()
        if _node_knows(w3, operation.transaction_hash):
            _submitted(operation)  # "already known": an earlier send did reach it
            return
        if "nonce too low" in message or "nonce is too low" in message:
            operation.transaction_hash, operation.raw_transaction, operation.nonce = "", "", None
            operation.save(
                update_fields=["transaction_hash", "raw_transaction", "nonce", "updated_at"]
            )
            raise _wait(operation, "the nonce was taken; signing again") from exc
        # The node refused the transaction outright, so its nonce was never used.
        _fail(operation, f"the node refused the transaction: {exc}")
        return
    _submitted(operation)


def _node_knows(w3: Web3, tx_hash: str) -> bool:
    try:
        w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return False
    return True


def _submitted(operation: Operation) -> None:
    operation.status = Operation.Status.SUBMITTED
    operation.waiting_reason = ""
    Operation.objects.filter(id=operation.id, status=Operation.Status.QUEUED).update(
        status=Operation.Status.SUBMITTED, waiting_reason=""
    )


def _fail(operation: Operation, reason: str) -> None:
    operation.status = Operation.Status.FAILED
    operation.error = reason
    operation.transaction_hash, operation.raw_transaction, operation.nonce = "", "", None
    operation.save(
        update_fields=[
            "status",
            "error",
            "transaction_hash",
            "raw_transaction",
            "nonce",
            "waiting_reason",
            "updated_at",
        ]
    )


def operation_track(*, operation_id: UUID | str) -> Operation:
    """Follow a submitted operation to its receipt: mined, or failed with the revert reason.

    Confirmation is the indexer's job (the events reached the mirror); this only records
    that the transaction is in a block, and why it failed when it did.
    """
    operation = Operation.objects.get(id=operation_id)
    if operation.status != Operation.Status.SUBMITTED:
        return operation
    try:
        w3, _ = system()
        try:
            receipt = w3.eth.get_transaction_receipt(operation.transaction_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            raise SubmitLater("not mined yet") from None
        if receipt["status"] == 1:
            Operation.objects.filter(id=operation.id, status=Operation.Status.SUBMITTED).update(
                status=Operation.Status.MINED, mined_block=receipt["blockNumber"]
            )
        else:
            tx = dict(w3.eth.get_transaction(operation.transaction_hash))  # type: ignore[arg-type]
            error = replay_revert(w3, tx, receipt)
            Operation.objects.filter(id=operation.id, status=Operation.Status.SUBMITTED).update(
                status=Operation.Status.FAILED,
                mined_block=receipt["blockNumber"],
                error=str(error) if error else "the transaction reverted without a reason",
            )
    except TRANSIENT as exc:
        raise SubmitLater("the chain node is unreachable") from exc
    operation.refresh_from_db()
    return operation
