"""Signing and sending a queued operation (see the package docstring)."""

from __future__ import annotations

import logging
import time
from typing import Any
from uuid import UUID

from django.conf import settings
from eth_typing import HexStr
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import Web3RPCError

from contracts.chain.client import TransactionReverted, build_transaction
from contracts.custody.keystore import KeyStoreUnavailable
from webapp.chain.chain_client import NotDeployed, system
from webapp.operations.calls import ContractCall, Unencodable
from webapp.operations.locks import SenderBusy, sender_lock
from webapp.operations.models import Operation
from webapp.operations.references import references_check
from webapp.operations.services import operation_fail
from webapp.operations.submitter.common import (
    TRANSIENT,
    SubmitLater,
    contract_call,
    earlier_may_be_missing,
    node_knows,
    receipt_of,
    short,
    submitted,
    wait,
)
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
        raise wait(operation, "the chain node is unreachable; retrying") from exc
    except SenderBusy as exc:
        raise wait(operation, "waiting for this organisation's other transactions") from exc
    except KeyStoreUnavailable as exc:
        key_store_failed(operation.sender, str(exc))
        raise wait(operation, f"key store unavailable: {exc}") from exc
    except Web3RPCError as exc:  # the node is in trouble, not (as far as we know) the call
        raise wait(operation, f"the chain node answered with an error; retrying ({exc})") from exc


def _store_for(operation: Operation) -> Any:
    """The key store that signs for the operation's sender; SubmitLater while it is
    unavailable (or resting after failing a moment ago, see `organisations.resting`)."""
    if (resting := key_store_resting(operation.sender)) is not None:
        raise wait(operation, f"key store unavailable: {resting}")
    try:
        store = signing_key(operation.organisation, operation.sender)
        if store.address != operation.sender:
            raise KeyStoreUnavailable(
                f"the key store holds {store.address}, the operation is from {operation.sender}"
            )
    except KeyStoreUnavailable as exc:
        key_store_failed(operation.sender, str(exc))
        raise wait(operation, f"key store unavailable: {exc}") from exc
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
    if node_knows(w3, tx_hash):
        submitted(operation)
        return True
    if not operation.raw_transaction or operation.nonce is None:
        _forget_signature(operation)  # nothing that could be mined was ever kept
        return False
    latest = w3.eth.get_transaction_count(Web3.to_checksum_address(operation.sender), "latest")
    # Read after the nonce: a transaction mined between the two reads is found here.
    if receipt_of(w3, tx_hash) is not None:
        submitted(operation)  # the tracker records its block and outcome
        return True
    if latest > operation.nonce:
        # The confirmed nonce passed it and its hash is in no block: that nonce went to
        # another transaction, so these bytes can never be mined. Sign it afresh.
        _forget_signature(operation)
        return False
    named = references_check(w3, contracts, operation)
    if named.wait:
        raise wait(operation, named.wait)
    if not named.ok:
        _fail(operation, named.reason)
        return True
    _send_again(w3, operation)  # the same bytes, the same nonce, the same hash
    return True


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
        if node_knows(w3, operation.transaction_hash):
            submitted(operation)
            return
        message = str(exc).lower()
        if "nonce too low" in message or "nonce is too low" in message:
            raise wait(operation, "the nonce moved while sending; checking again") from exc
        raise wait(
            operation,
            "the node refused the signed transaction for now; waiting for this"
            f" organisation's earlier transactions ({short(exc)})",
        ) from exc
    submitted(operation)


def _sign_and_send(
    w3: Web3, contracts: dict[str, Any], store: Any, operation: Operation
) -> Operation:
    sender = Web3.to_checksum_address(operation.sender)
    try:
        with submit_step("preflight"):
            function = contract_call(contracts, ContractCall.from_json(operation.call))
            named = references_check(w3, contracts, operation)
        if named.wait:
            raise wait(operation, named.wait)
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
        if earlier_may_be_missing(w3, operation):
            # The refusal may depend on this sender's transactions still in flight
            # (a lot registered a moment ago): decide once they are mined.
            raise wait(operation, "waiting for this organisation's earlier operations") from exc
        _fail(operation, str(exc))
        return operation
    except Unencodable as exc:
        _fail(operation, str(exc))
        return operation
    except (*TRANSIENT, SubmitLater, KeyStoreUnavailable, SenderBusy, Web3RPCError, NotDeployed):
        raise  # the node or a store is in trouble, not the operation: it waits
    except Exception as exc:  # anything else about this call: waiting will not cure it
        log.warning("operation %s cannot be built: %r", operation.id, exc)
        _fail(operation, f"the transaction could not be built ({short(exc)})")
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
        if node_knows(w3, operation.transaction_hash):
            submitted(operation)  # "already known": an earlier send did reach it
            return
        if "nonce too low" in message or "nonce is too low" in message:
            operation.transaction_hash, operation.raw_transaction, operation.nonce = "", "", None
            operation.save(
                update_fields=["transaction_hash", "raw_transaction", "nonce", "updated_at"]
            )
            raise wait(operation, "the nonce was taken; signing again") from exc
        # The node refused the transaction outright, so its nonce was never used.
        _fail(operation, f"the node refused the transaction: {exc}")
        return
    submitted(operation)


def _fail(operation: Operation, reason: str) -> None:
    operation_fail(operation=operation, reason=reason)
