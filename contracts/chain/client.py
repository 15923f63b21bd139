"""The one place that builds chain clients, binds contracts and sends signed transactions.

Writes never use ``eth_sendTransaction``: a :class:`Signer` (a key store) signs the
transaction and it goes out with ``eth_sendRawTransaction``. Fees are always set
explicitly: on a free-gas QBFT network the base fee is zero and so is the fee we offer.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from typing import Any, Protocol

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError
from web3.middleware import ExtraDataToPOAMiddleware
from web3.providers import HTTPProvider
from web3.types import BlockIdentifier, TxParams, TxReceipt

from contracts.chain import settings
from contracts.chain.artifacts import load
from contracts.chain.errors import DecodedError, decode_revert


class Signer(Protocol):
    """A key that signs transactions without ever handing the key out.

    Key stores (encrypted keystore file, HSM, Azure Key Vault) implement this; callers
    never learn which one they use.
    """

    @property
    def address(self) -> ChecksumAddress: ...

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        """Sign a transaction dict and return the raw signed transaction."""
        ...


class LocalSigner:
    """A signer over an in-memory private key (development chains and tests)."""

    def __init__(self, account: LocalAccount) -> None:
        self._account = account

    @classmethod
    def from_key(cls, private_key: str | bytes) -> LocalSigner:
        return cls(Account.from_key(private_key))

    @classmethod
    def create(cls) -> LocalSigner:
        return cls(Account.create())

    @property
    def address(self) -> ChecksumAddress:
        return self._account.address

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        return bytes(self._account.sign_transaction(tx).raw_transaction)


class TransactionReverted(Exception):
    """A transaction (or its gas estimate) reverted; `error` holds the decoded reason."""

    def __init__(self, error: DecodedError | None, tx_hash: str | None = None) -> None:
        self.error = error
        self.tx_hash = tx_hash
        reason = str(error) if error else "reverted without a reason"
        super().__init__(reason if tx_hash is None else f"{reason} (tx {tx_hash})")

    @property
    def name(self) -> str | None:
        return self.error.name if self.error else None


# --------------------------------------------------------------------------- clients


@functools.cache
def get_web3(url: str | None = None) -> Web3:
    """The HTTP client for `url` (default: PROVENANT_RPC_URL), one per process and URL.

    Tests call ``get_web3.cache_clear()`` after switching nodes.
    """
    w3 = Web3(HTTPProvider(url or settings.rpc_url(), request_kwargs={"timeout": 30}))
    if settings.poa_chain():
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


# ------------------------------------------------------------------------- contracts


@dataclass(frozen=True)
class SystemContracts:
    """The deployed system, bound to one client."""

    lots: Contract
    certificates: Contract
    anchors: Contract

    @property
    def all(self) -> dict[str, Contract]:
        return {"Lots": self.lots, "Certificates": self.certificates, "Anchors": self.anchors}


def bind(w3: Web3, name: str, address: str) -> Contract:
    """A contract object for artifact `name` at `address`."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load(name).abi)


def bind_system(w3: Web3, addresses: dict[str, str]) -> SystemContracts:
    return SystemContracts(
        lots=bind(w3, "Lots", addresses["Lots"]),
        certificates=bind(w3, "Certificates", addresses["Certificates"]),
        anchors=bind(w3, "Anchors", addresses["Anchors"]),
    )


# ---------------------------------------------------------------------- transactions


def fee_fields(w3: Web3) -> dict[str, int]:
    """EIP-1559 fee fields from the latest base fee: zero on a free-gas network."""
    base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
    tip = settings.priority_fee_wei()
    return {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}


def build_transaction(
    w3: Web3,
    sender: ChecksumAddress,
    call: ContractFunction | None = None,
    *,
    to: str | None = None,
    data: str | bytes = b"",
    nonce: int | None = None,
    gas: int | None = None,
    chain_id: int | None = None,
) -> dict[str, Any]:
    """A complete type-2 transaction dict, ready to sign.

    Gas is estimated unless given; a reverting estimate raises TransactionReverted with the
    decoded custom error, so nothing is signed or sent for a call the chain would refuse.
    The chain id is asked of the node unless given (a caller that checked it once saves a
    round trip per transaction).
    """
    if call is not None:
        to = call.address
        data = call._encode_transaction_data()
    tx: dict[str, Any] = {
        "chainId": w3.eth.chain_id if chain_id is None else chain_id,
        "from": sender,
        "data": HexBytes(data).to_0x_hex(),
        "value": 0,
        "nonce": w3.eth.get_transaction_count(sender, "pending") if nonce is None else nonce,
        "type": 2,
        **fee_fields(w3),
    }
    if to is not None:
        tx["to"] = Web3.to_checksum_address(to)
    if gas is None:
        estimate = {k: v for k, v in tx.items() if k not in {"nonce", "type", "chainId"}}
        try:
            gas = w3.eth.estimate_gas(TxParams(**estimate))  # type: ignore[typeddict-item]
        except _REVERT_ERRORS as exc:
            raise TransactionReverted(decode_revert(_revert_data(exc))) from exc
        gas = gas + gas // 5  # headroom: storage refunds and warm/cold differences
    tx["gas"] = gas
    return tx


def send_transaction(
    w3: Web3,
    signer: Signer,
    call: ContractFunction | None = None,
    *,
    to: str | None = None,
    data: str | bytes = b"",
    nonce: int | None = None,
    gas: int | None = None,
    wait: bool = True,
) -> TxReceipt | str:
    """Sign with `signer`, send raw, and (by default) wait for the receipt.

    Returns the receipt, or the transaction hash when ``wait=False``. A mined transaction
    that failed raises TransactionReverted with the reason recovered by replaying it.
    """
    tx = build_transaction(w3, signer.address, call, to=to, data=data, nonce=nonce, gas=gas)
    raw = signer.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(raw)
    if not wait:
        return tx_hash.to_0x_hex()
    receipt = w3.eth.wait_for_transaction_receipt(
        tx_hash, timeout=settings.receipt_timeout_seconds()
    )
    if receipt["status"] != 1:
        raise TransactionReverted(replay_revert(w3, tx, receipt), tx_hash.to_0x_hex())
    return receipt


def transact(w3: Web3, signer: Signer, call: ContractFunction, **kwargs: Any) -> TxReceipt:
    """Send a contract call and wait for its successful receipt."""
    receipt = send_transaction(w3, signer, call, **kwargs)
    assert not isinstance(receipt, str)
    return receipt


def simulate(
    w3: Web3, tx: dict[str, Any], block: BlockIdentifier = "latest"
) -> DecodedError | None:
    """Run a transaction as a call (``eth_call`` from its sender) at `block`.

    Returns the decoded revert, or None when the call would succeed. Used before queuing a
    write (would the chain accept it now?) and after a failed receipt (why did it fail?).
    """
    call = {k: tx[k] for k in ("from", "to", "data") if k in tx}
    try:
        w3.eth.call(TxParams(**call), block)  # type: ignore[typeddict-item]
    except _REVERT_ERRORS as exc:
        return decode_revert(_revert_data(exc))
    return None


def replay_revert(w3: Web3, tx: dict[str, Any], receipt: TxReceipt) -> DecodedError | None:
    """Re-run a failed transaction as a call at its block to recover the revert data."""
    return simulate(w3, tx, receipt["blockNumber"])


def _revert_data(exc: Exception) -> str | bytes | None:
    if isinstance(exc, ContractLogicError):
        data = exc.data
        if isinstance(data, dict):
            data = data.get("data")
        return data if isinstance(data, str) else None
    # The in-process EVM (eth-tester) raises TransactionFailed("execution reverted: b'...'").
    message = str(exc.args[0]) if exc.args else ""
    literal = message.removeprefix("execution reverted: ")
    if literal.startswith(("b'", 'b"')):
        value = ast.literal_eval(literal)
        return value if isinstance(value, bytes) else None
    return None


def _revert_errors() -> tuple[type[Exception], ...]:
    try:
        from eth_tester.exceptions import TransactionFailed
    except ImportError:  # eth-tester is a test dependency only
        return (ContractLogicError,)
    return (ContractLogicError, TransactionFailed)


_REVERT_ERRORS = _revert_errors()
