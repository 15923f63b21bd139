"""Following a sent operation to its receipt, and what to do when its transaction is in
no block (see the package docstring)."""

from __future__ import annotations

import logging
from typing import Any, NoReturn
from uuid import UUID

from eth_typing import HexStr
from web3 import Web3
from web3.exceptions import Web3RPCError

from contracts.chain.client import replay_revert
from webapp.chain.chain_client import system
from webapp.chain.models import ChainEvent
from webapp.operations.locks import SenderBusy, sender_lock
from webapp.operations.models import Operation
from webapp.operations.references import references_check
from webapp.operations.services import operation_dispatch, operation_fail
from webapp.operations.submitter.common import (
    FOLLOWED,
    TRANSIENT,
    SubmitLater,
    earlier_may_be_missing,
    node_knows,
    receipt_of,
)
from webapp.telemetry import (
    submit_step,
)

log = logging.getLogger(__name__)


def operation_track(*, operation_id: UUID | str) -> Operation:
    """Follow a submitted (or mined) operation to its receipt: mined, or failed with the
    revert reason; and when its transaction is in no block and the node no longer holds it,
    send it again or fail it (see the package docstring). Raises SubmitLater while there is
    nothing to decide yet.

    Confirmation is the indexer's job (the events reached the mirror); this only records
    that the transaction is in a block, and why it failed when it did.
    """
    with submit_step("track"):
        return _operation_track(operation_id)


def _operation_track(operation_id: UUID | str) -> Operation:
    operation = Operation.objects.select_related("organisation").get(id=operation_id)
    if operation.status not in (Operation.Status.SUBMITTED, Operation.Status.MINED):
        return operation
    try:
        w3, contracts = system()
        receipt = receipt_of(w3, operation.transaction_hash)
        if receipt is not None:
            _mined(w3, operation, receipt)
        elif node_knows(w3, operation.transaction_hash):
            # In the node's pool: it will be mined. Deciding that needs no lock, so a
            # sender's pending transactions never hold up its signing while they wait.
            _pending(operation)
        else:
            with sender_lock(operation.chain_id, operation.sender):
                operation.refresh_from_db()
                if operation.status not in (Operation.Status.SUBMITTED, Operation.Status.MINED):
                    return operation
                _not_in_a_block(w3, contracts.all, operation)
    except TRANSIENT as exc:
        raise SubmitLater("the chain node is unreachable") from exc
    except SenderBusy as exc:
        raise SubmitLater("the sender is busy") from exc
    operation.refresh_from_db()
    return operation


def _pending(operation: Operation) -> NoReturn:
    """Its transaction is in the node's pool: submitted (again, when a reorganisation
    took its block away), and nothing to decide until it is mined."""
    Operation.objects.filter(id=operation.id, status=Operation.Status.MINED).update(
        status=Operation.Status.SUBMITTED, mined_block=None
    )
    raise SubmitLater("not mined yet")


def _mined(w3: Web3, operation: Operation, receipt: Any) -> None:
    block = int(receipt["blockNumber"])
    rows = Operation.objects.filter(id=operation.id, status__in=FOLLOWED)
    if receipt["status"] == 1:
        if ChainEvent.objects.filter(
            chain_id=operation.chain_id,
            transaction_hash=operation.transaction_hash,
            block_number=block,
        ).exists():
            # The mirror already holds its events (it saw them before this was recorded).
            rows.update(
                status=Operation.Status.CONFIRMED,
                mined_block=block,
                confirmed_block=block,
                waiting_reason="",
            )
            return
        rows.update(status=Operation.Status.MINED, mined_block=block, waiting_reason="")
        return
    if earlier_may_be_missing(w3, operation):
        # Reverted while this sender's earlier operations are not in yet: after a
        # reorganisation a lot's registration can be signed again behind the handoff that
        # needs it. The reverted transaction did nothing, so a fresh signature cannot double
        # a fact; the pre-flight then waits for the earlier ones, and fails it with the
        # reason only if it is still refused once they are in.
        _requeue_reverted(operation, block)
        return
    sent = w3.eth.get_transaction(operation.transaction_hash)  # type: ignore[arg-type]
    # Replayed as a plain call: the signed transaction's nonce and fee fields would make
    # the node refuse the call itself instead of running it into the revert.
    tx = {"from": sent["from"], "to": sent["to"], "data": sent["input"], "gas": sent["gas"]}
    error = replay_revert(w3, tx, receipt)
    Operation.objects.filter(id=operation.id, status__in=FOLLOWED).update(mined_block=block)
    operation.refresh_from_db()
    if operation.status in FOLLOWED:
        operation_fail(
            operation=operation,
            reason=str(error) if error else "the transaction reverted without a reason",
            keep_transaction=True,
        )


def _requeue_reverted(operation: Operation, block: int) -> None:
    log.info("operation %s reverted in block %s behind earlier operations", operation.id, block)
    attempt = {"transaction_hash": operation.transaction_hash, "nonce": operation.nonce,
               "block": block}  # fmt: skip
    _sign_afresh(
        operation,
        "its transaction was refused while this organisation's earlier operations were not"
        " on chain yet; tried again after them",
        reverted_attempts=[*operation.reverted_attempts, attempt],
    )
    operation_dispatch(str(operation.id))


def _sign_afresh(operation: Operation, reason: str, **recorded: Any) -> None:
    """Back to queued without its signed bytes: the next attempt signs it anew."""
    Operation.objects.filter(id=operation.id, status__in=FOLLOWED).update(
        status=Operation.Status.QUEUED,
        transaction_hash="",
        raw_transaction="",
        nonce=None,
        mined_block=None,
        waiting_reason=reason,
        **recorded,
    )


def _not_in_a_block(w3: Web3, contracts: dict[str, Any], operation: Operation) -> None:
    """The transaction is in no block (a reorganisation removed it, or it was never mined).
    Called under the sender's lock, so no new transaction of the sender takes a nonce
    between the checks below."""
    tx_hash = operation.transaction_hash
    stale = Operation.objects.filter(id=operation.id, status__in=FOLLOWED)
    if node_knows(w3, tx_hash):  # sent again by another worker before this one got the lock
        _pending(operation)
    sender = Web3.to_checksum_address(operation.sender)
    confirmed_nonce = w3.eth.get_transaction_count(sender, "latest")
    # Read after the nonce: a transaction mined between the two reads is found here.
    receipt = receipt_of(w3, tx_hash)
    if receipt is not None:
        _mined(w3, operation, receipt)
        return
    if not operation.raw_transaction or operation.nonce is None:
        operation_fail(
            operation=operation,
            reason="its transaction left the chain and its signed bytes are not kept",
        )
        return
    named = references_check(w3, contracts, operation)
    if named.wait:
        stale.update(status=Operation.Status.SUBMITTED, mined_block=None, waiting_reason=named.wait)
        raise SubmitLater(named.wait)
    if not named.ok:
        operation_fail(operation=operation, reason=named.reason)
        return
    if confirmed_nonce <= operation.nonce:
        # Its nonce is still free: the same signed bytes (same nonce, same hash) are valid.
        _send_lost(w3, operation, stale)
        return
    # The sender's confirmed nonce passed it and the hash is not on chain: that nonce went
    # to another transaction, so these bytes can never be mined and signing afresh cannot
    # double the fact. Queued again, the submitter's pre-flight decides against the new
    # chain; the sweep sends it after the sender's other vanished transactions went out
    # again with their own nonces (so it does not take one of theirs).
    _sign_afresh(operation, "its transaction left the chain and its nonce was taken; signing again")


def _send_lost(w3: Web3, operation: Operation, stale: Any) -> None:
    """Send again the signed bytes of a transaction that left the chain (or the node)."""
    tx_hash = operation.transaction_hash
    stale.update(
        status=Operation.Status.SUBMITTED,
        mined_block=None,
        waiting_reason="its block left the chain; sent again",
    )
    try:
        w3.eth.send_raw_transaction(HexStr(operation.raw_transaction))
    except Web3RPCError as exc:
        if node_knows(w3, tx_hash):
            return
        message = str(exc).lower()
        if "nonce too low" in message or "nonce is too low" in message:
            raise SubmitLater("the nonce moved while sending; checking again") from exc
        if "underpriced" in message:
            # The node lost these bytes (a restart emptied its pool) and another
            # transaction of the sender took their nonce meanwhile: once that one is
            # mined, the confirmed nonce passes this one's and it is signed afresh.
            stale.update(
                waiting_reason="another transaction of this organisation holds its nonce;"
                " it is signed again once that one is mined"
            )
            raise SubmitLater("another transaction holds its nonce") from exc
        operation_fail(
            operation=operation,
            reason=f"its block left the chain and the node refused it again: {exc}",
        )
