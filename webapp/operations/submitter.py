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
:class:`SubmitLater`; the Celery task queues itself again with backoff and the sweeper
re-enqueues anything a lost task left behind. A call that cannot be encoded (a number too
large for its type, a date before 1970) or built for any other reason that waiting cannot
cure ends the operation failed with that reason: it never blocks the sender or the sweep.

After the send, :func:`operation_track` follows the transaction. When it is in no block
and the node no longer holds it (a reorganisation removed its block, the node dropped
it), the same signed bytes go out again while their nonce is still free; only when the
sender's confirmed nonce has passed it and the hash is still not on chain (the nonce went
to another transaction, so these bytes can never be mined) is the operation signed afresh.
Before any signing or re-sending, the chain ids in its call must still name what they
named when it was queued (see `references.py`); otherwise it fails with the reason.
"""

from __future__ import annotations

import logging
import time
from typing import Any, NoReturn
from uuid import UUID

from django.conf import settings
from eth_typing import HexStr
from eth_utils.crypto import keccak
from requests.exceptions import ConnectionError as NodeUnreachable
from requests.exceptions import Timeout
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import BlockNotFound, TransactionNotFound, Web3RPCError

from contracts.chain.client import TransactionReverted, build_transaction, replay_revert
from contracts.custody.keystore import KeyStoreUnavailable
from webapp.chain.chain_client import NotDeployed, system
from webapp.chain.models import ChainEvent, Checkpoint
from webapp.operations.calls import ContractCall, Unencodable
from webapp.operations.locks import SenderBusy, sender_lock
from webapp.operations.models import Operation
from webapp.operations.references import references_check
from webapp.operations.selectors import operations_in_flight
from webapp.operations.services import operation_dispatch, operation_fail
from webapp.organisations.keys import signing_key
from webapp.organisations.resting import key_store_answered, key_store_failed, key_store_resting
from webapp.telemetry import (
    OPERATION_ID,
    backend_of,
    signing_observed,
    submit_step,
    submit_step_since,
)

log = logging.getLogger(__name__)

TRANSIENT = (NodeUnreachable, Timeout, ConnectionError, TimeoutError)


class SubmitLater(Exception):
    """The operation could not be sent now; it stays queued and is tried again."""


def _wait(operation: Operation, reason: str) -> SubmitLater:
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
        f" ({_short(exc)})"
    )


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:300] + "…"
    return f"{type(exc).__name__}: {text}"


def operation_send(*, operation_id: UUID | str) -> Operation:
    """Sign and send one queued operation; a no-op for any other status."""
    token = OPERATION_ID.set(str(operation_id))  # in every log line on the way
    try:
        with submit_step("total"):
            return _operation_send(operation_id)
    finally:
        OPERATION_ID.reset(token)


def _operation_send(operation_id: UUID | str) -> Operation:
    operation = Operation.objects.select_related("organisation").get(id=operation_id)
    if operation.status != Operation.Status.QUEUED:
        return operation
    with submit_step("key_store"):
        store = _store_for(operation)
    try:
        asked = time.perf_counter()
        with sender_lock(operation.chain_id, operation.sender):
            submit_step_since("lock_wait", asked)
            with submit_step("claim"):
                operation.refresh_from_db()
                if operation.status != Operation.Status.QUEUED:
                    return operation
                Operation.objects.filter(id=operation.id).update(attempts=operation.attempts + 1)
                w3, contracts = system()
            if operation.transaction_hash and _resume(w3, contracts.all, operation):
                return operation
            return _sign_and_send(w3, contracts.all, store, operation)
    except TRANSIENT as exc:
        raise _wait(operation, "the chain node is unreachable; retrying") from exc
    except SenderBusy as exc:
        raise _wait(operation, "waiting for this organisation's other transactions") from exc
    except KeyStoreUnavailable as exc:
        key_store_failed(operation.sender, str(exc))
        raise _wait(operation, f"key store unavailable: {exc}") from exc
    except Web3RPCError as exc:  # the node is in trouble, not (as far as we know) the call
        raise _wait(operation, f"the chain node answered with an error; retrying ({exc})") from exc


def _store_for(operation: Operation) -> Any:
    """The key store that signs for the operation's sender; SubmitLater while it is
    unavailable (or resting after failing a moment ago, see `organisations.resting`)."""
    if (resting := key_store_resting(operation.sender)) is not None:
        raise _wait(operation, f"key store unavailable: {resting}")
    try:
        store = signing_key(operation.organisation, operation.sender)
        if store.address != operation.sender:
            raise KeyStoreUnavailable(
                f"the key store holds {store.address}, the operation is from {operation.sender}"
            )
    except KeyStoreUnavailable as exc:
        key_store_failed(operation.sender, str(exc))
        raise _wait(operation, f"key store unavailable: {exc}") from exc
    return store


def _resume(w3: Web3, contracts: dict[str, Any], operation: Operation) -> bool:
    """An earlier attempt signed this operation. True when that attempt is now settled (or
    waits with a reason); False when its nonce provably went to another transaction, so the
    caller signs it afresh.

    The same signed bytes go out again whenever they could still be mined: while the
    sender's confirmed nonce has not passed theirs, whatever the node's pool holds (an
    earlier transaction of the sender missing from the pool leaves a gap, not a taken
    nonce). Signing afresh then could put the same fact on chain twice."""
    tx_hash = operation.transaction_hash
    if _node_knows(w3, tx_hash):
        _submitted(operation)
        return True
    if not operation.raw_transaction or operation.nonce is None:
        _forget_signature(operation)  # nothing that could be mined was ever kept
        return False
    latest = w3.eth.get_transaction_count(Web3.to_checksum_address(operation.sender), "latest")
    # Read after the nonce: a transaction mined between the two reads is found here.
    if _receipt(w3, tx_hash) is not None:
        _submitted(operation)  # the tracker records its block and outcome
        return True
    if latest > operation.nonce:
        # The confirmed nonce passed it and its hash is in no block: that nonce went to
        # another transaction, so these bytes can never be mined. Sign it afresh.
        _forget_signature(operation)
        return False
    named = references_check(w3, contracts, operation)
    if named.wait:
        raise _wait(operation, named.wait)
    if not named.ok:
        _fail(operation, named.reason)
        return True
    _send_again(w3, operation)  # the same bytes, the same nonce, the same hash
    return True


def _earlier_may_be_missing(w3: Web3, operation: Operation) -> bool:
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


def _forget_signature(operation: Operation) -> None:
    operation.transaction_hash, operation.raw_transaction, operation.nonce = "", "", None
    operation.save(update_fields=["transaction_hash", "raw_transaction", "nonce", "updated_at"])


def _send_again(w3: Web3, operation: Operation) -> None:
    """Send the stored signed bytes again. A refusal never leads to signing here: "nonce too
    low" or "already known" are checked again on the next attempt (the nonce may have gone
    to these very bytes, mined meanwhile), and any other refusal (a nonce gap the node will
    not queue) waits, with the node's words, until the sender's earlier transactions are in."""
    try:
        w3.eth.send_raw_transaction(HexStr(operation.raw_transaction))
    except Web3RPCError as exc:
        if _node_knows(w3, operation.transaction_hash):
            _submitted(operation)
            return
        message = str(exc).lower()
        if "nonce too low" in message or "nonce is too low" in message:
            raise _wait(operation, "the nonce moved while sending; checking again") from exc
        raise _wait(
            operation,
            "the node refused the signed transaction for now; waiting for this"
            f" organisation's earlier transactions ({_short(exc)})",
        ) from exc
    _submitted(operation)


def _sign_and_send(
    w3: Web3, contracts: dict[str, Any], store: Any, operation: Operation
) -> Operation:
    sender = Web3.to_checksum_address(operation.sender)
    try:
        with submit_step("preflight"):
            function = contract_call(contracts, ContractCall.from_json(operation.call))
            named = references_check(w3, contracts, operation)
        if named.wait:
            raise _wait(operation, named.wait)
        if not named.ok:
            _fail(operation, named.reason)
            return operation
        with submit_step("nonce"):
            nonce = w3.eth.get_transaction_count(sender, "pending")
        # Estimates gas: a call the chain refuses is never signed.
        with submit_step("build"):
            # `system()` checked the node serves the configured chain id (once a process).
            tx = build_transaction(w3, sender, function, nonce=nonce, chain_id=settings.CHAIN_ID)
    except TransactionReverted as exc:
        if _earlier_may_be_missing(w3, operation):
            # The refusal may depend on this sender's transactions still in flight
            # (a lot registered a moment ago): decide once they are mined.
            raise _wait(operation, "waiting for this organisation's earlier operations") from exc
        _fail(operation, str(exc))
        return operation
    except Unencodable as exc:
        _fail(operation, str(exc))
        return operation
    except (*TRANSIENT, SubmitLater, KeyStoreUnavailable, SenderBusy, Web3RPCError, NotDeployed):
        raise  # the node or a store is in trouble, not the operation: it waits
    except Exception as exc:  # anything else about this call: waiting will not cure it
        log.warning("operation %s cannot be built: %r", operation.id, exc)
        _fail(operation, f"the transaction could not be built ({_short(exc)})")
        return operation
    with submit_step("sign"), signing_observed(backend_of(store)):
        raw = store.sign_transaction(tx)
    with submit_step("record"):
        key_store_answered(operation.sender)
        operation.nonce = nonce
        operation.raw_transaction = "0x" + raw.hex()
        operation.transaction_hash = "0x" + keccak(raw).hex()
        operation.save(update_fields=["nonce", "raw_transaction", "transaction_hash", "updated_at"])
    with submit_step("send"):
        _send_raw(w3, operation)
    return operation


def _send_raw(w3: Web3, operation: Operation) -> None:
    try:
        w3.eth.send_raw_transaction(HexStr(operation.raw_transaction))
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
    operation_fail(operation=operation, reason=reason)


def operation_track(*, operation_id: UUID | str) -> Operation:
    """Follow a submitted (or mined) operation to its receipt: mined, or failed with the
    revert reason; and when its transaction is in no block and the node no longer holds it,
    send it again or fail it (see the module docstring). Raises SubmitLater while there is
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
        receipt = _receipt(w3, operation.transaction_hash)
        if receipt is None and _node_knows(w3, operation.transaction_hash):
            # In the node's pool: it will be mined. Deciding that needs no lock, so a
            # sender's pending transactions never hold up its signing while they wait.
            _pending(operation)
        if receipt is None:
            with sender_lock(operation.chain_id, operation.sender):
                operation.refresh_from_db()
                if operation.status not in (Operation.Status.SUBMITTED, Operation.Status.MINED):
                    return operation
                _not_in_a_block(w3, contracts.all, operation)
        else:
            _mined(w3, operation, receipt)
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


def _receipt(w3: Web3, tx_hash: str) -> Any:
    try:
        return w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return None


_FOLLOWED = [Operation.Status.SUBMITTED, Operation.Status.MINED]


def _mined(w3: Web3, operation: Operation, receipt: Any) -> None:
    block = int(receipt["blockNumber"])
    rows = Operation.objects.filter(id=operation.id, status__in=_FOLLOWED)
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
    if _earlier_may_be_missing(w3, operation):
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
    Operation.objects.filter(id=operation.id, status__in=_FOLLOWED).update(mined_block=block)
    operation.refresh_from_db()
    if operation.status in _FOLLOWED:
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
    Operation.objects.filter(id=operation.id, status__in=_FOLLOWED).update(
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
    stale = Operation.objects.filter(id=operation.id, status__in=_FOLLOWED)
    if _node_knows(w3, tx_hash):  # in the node's pool: it will be mined
        _pending(operation)
    sender = Web3.to_checksum_address(operation.sender)
    confirmed_nonce = w3.eth.get_transaction_count(sender, "latest")
    # Read after the nonce: a transaction mined between the two reads is found here.
    receipt = _receipt(w3, tx_hash)
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
        if _node_knows(w3, tx_hash):
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
