"""Build proof documents a third party can check without trusting us.

A proof of one event log carries everything needed to check it against the chain alone:
the block header (whose hash is the block hash), the raw signed transaction and the
consensus-encoded receipt, each with its Merkle-Patricia proof under the header's
``transactionsRoot`` / ``receiptsRoot``, and the event's ABI fragment to decode the log.
The document format, and what each of its facts establishes, is described in
:mod:`contracts.proofs.verify`, which checks it.

How a proof is built, from one node (anvil, or Besu QBFT: same header layout):

1. the receipt of the transaction names the block (by hash, so a reorganisation while
   we build makes the build fail rather than mix two blocks) and the log;
2. the block with its full transactions gives the header fields, re-encoded as RLP in the
   canonical order, with the post-London optional fields (``baseFeePerGas``,
   ``withdrawalsRoot``, ``blobGasUsed``, ``excessBlobGas``, ``parentBeaconBlockRoot``,
   ``requestsHash``) exactly when the block has them; the build fails unless the result
   hashes to the block hash;
3. every transaction of the block, re-encoded from its fields (EIP-2718 for typed ones) or
   fetched raw, and every receipt (``eth_getBlockReceipts``, else one call per
   transaction) go into two tries keyed by ``rlp(transaction index)``; the build fails
   unless their roots are the header's;
4. the document is checked with :func:`contracts.proofs.verify.verify_document` before it is
   returned, so a proof that leaves this module verifies.

Calls go to the provider directly (``w3.provider.make_request``): the raw JSON-RPC answers
keep every byte as the node sent it, and no middleware (such as the POA one, which renames
``extraData``) stands between the node and the header we re-hash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import rlp
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from trie.hexary import HexaryTrie
from web3 import Web3
from web3.types import RPCEndpoint

from contracts.chain.artifacts import load
from contracts.chain.events import EventSpec, UndecodableLog, decode_log
from contracts.proofs.merkle import item_leaf, merkle_paths, merkle_root
from contracts.proofs.verify import (
    ANCHORED_ITEM_FORMAT,
    EVENT_PROOF_FORMAT,
    decode_event,
    event_signature,
    verify_document,
)


class ProofError(RuntimeError):
    """A proof cannot be built: unknown transaction or log, or the node's data does not
    re-hash to its own roots (an unsupported header layout or transaction type)."""


class _RPCError(RuntimeError):
    pass


# The header fields in consensus order (name, is-integer); integers are RLP big-endian.
_HEADER_FIELDS: tuple[tuple[str, bool], ...] = (
    ("parentHash", False),
    ("sha3Uncles", False),
    ("miner", False),
    ("stateRoot", False),
    ("transactionsRoot", False),
    ("receiptsRoot", False),
    ("logsBloom", False),
    ("difficulty", True),
    ("number", True),
    ("gasLimit", True),
    ("gasUsed", True),
    ("timestamp", True),
    ("extraData", False),
    ("mixHash", False),
    ("nonce", False),
)
# Appended by later forks, in this order: London, Shanghai, Cancun (three), Prague.
_HEADER_OPTIONAL: tuple[tuple[str, bool], ...] = (
    ("baseFeePerGas", True),
    ("withdrawalsRoot", False),
    ("blobGasUsed", True),
    ("excessBlobGas", True),
    ("parentBeaconBlockRoot", False),
    ("requestsHash", False),
)


def _rpc(w3: Web3, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(RPCEndpoint(method), list(params))
    if response.get("error"):
        raise _RPCError(f"{method}: {response['error']}")
    return response.get("result")


def _b(value: str | None) -> bytes:
    return b"" if value is None else bytes.fromhex(value[2:])


def _i(value: str | int | None) -> int:
    if value is None:
        return 0
    return value if isinstance(value, int) else int(value, 16)


# -------------------------------------------------------------------------- encodings


def encode_header(block: Mapping[str, Any]) -> bytes:
    """The RLP header of a block as ``eth_getBlockBy*`` returns it (raw JSON fields)."""
    values: list[Any] = []
    for name, is_int in _HEADER_FIELDS:
        if name not in block:
            raise ProofError(f"the node's block has no {name!r}: cannot rebuild its header")
        values.append(_i(block[name]) if is_int else _b(block[name]))
    missing: str | None = None
    for name, is_int in _HEADER_OPTIONAL:
        if block.get(name) is None:
            missing = missing or name
            continue
        if missing is not None:
            raise ProofError(f"the node's block has {name!r} but not {missing!r}")
        values.append(_i(block[name]) if is_int else _b(block[name]))
    return bytes(rlp.encode(values))


def encode_receipt(receipt: Mapping[str, Any]) -> bytes:
    """The consensus encoding of a receipt (``eth_getTransactionReceipt`` JSON)."""
    if receipt.get("status") is not None:
        outcome: Any = _i(receipt["status"])
    else:
        outcome = _b(receipt.get("root"))  # pre-Byzantium: the post-state root
    logs = [
        [_b(log["address"]), [_b(t) for t in log["topics"]], _b(log["data"])]
        for log in receipt["logs"]
    ]
    payload = rlp.encode(
        [outcome, _i(receipt["cumulativeGasUsed"]), _b(receipt["logsBloom"]), logs]
    )
    kind = _i(receipt.get("type"))
    return bytes(payload) if kind == 0 else bytes([kind]) + bytes(payload)


def _access_list(tx: Mapping[str, Any]) -> list[Any]:
    return [
        [_b(entry["address"]), [_b(k) for k in entry["storageKeys"]]]
        for entry in tx.get("accessList") or []
    ]


def _authorization(a: Mapping[str, Any]) -> list[Any]:
    """One EIP-7702 authorization tuple: [chainId, address, nonce, yParity, r, s]."""
    numbers = [_i(a[k]) for k in ("nonce", "yParity", "r", "s")]
    return [_i(a["chainId"]), _b(a["address"]), *numbers]


def encode_transaction(tx: Mapping[str, Any]) -> bytes | None:
    """The signed transaction re-encoded from its JSON fields; None for an unknown type.

    Legacy: rlp([nonce, gasPrice, gas, to, value, input, v, r, s]); typed (EIP-2718):
    type || rlp(fields of EIP-2930, EIP-1559, EIP-4844 or EIP-7702).
    """
    kind = _i(tx.get("type"))
    to = _b(tx.get("to"))
    common = [_i(tx["gas"]), to, _i(tx["value"]), _b(tx["input"])]
    signature = [_i(tx["r"]), _i(tx["s"])]
    if kind == 0:
        fields: list[Any] = [_i(tx["nonce"]), _i(tx["gasPrice"]), *common, _i(tx["v"])]
        return bytes(rlp.encode(fields + signature))
    y_parity = _i(tx["yParity"] if tx.get("yParity") is not None else tx["v"])
    head = [_i(tx["chainId"]), _i(tx["nonce"])]
    if kind == 1:
        fields = [*head, _i(tx["gasPrice"]), *common, _access_list(tx)]
    elif kind in (2, 3, 4):
        fees = [_i(tx["maxPriorityFeePerGas"]), _i(tx["maxFeePerGas"])]
        fields = [*head, *fees, *common, _access_list(tx)]
        if kind == 3:
            fields += [_i(tx["maxFeePerBlobGas"]), [_b(h) for h in tx["blobVersionedHashes"]]]
        elif kind == 4:
            fields.append([_authorization(a) for a in tx["authorizationList"]])
    else:
        return None
    return bytes([kind]) + bytes(rlp.encode([*fields, y_parity, *signature]))


# ---------------------------------------------------------------------------- tries


def _trie(values: Sequence[bytes]) -> HexaryTrie:
    trie = HexaryTrie({})
    with trie.squash_changes() as batch:
        for index, value in enumerate(values):
            batch[rlp.encode(index)] = value
    return trie


def _proof(trie: HexaryTrie, index: int) -> list[str]:
    """The trie nodes from the root to entry `index`, RLP-encoded (as eth_getProof).

    Nodes shorter than 32 bytes live inside their parent and are left out, except the root.
    """
    path = trie.get_proof(rlp.encode(index))  # type: ignore[no-untyped-call]
    nodes = [bytes(rlp.encode(node)) for node in path]
    return ["0x" + n.hex() for i, n in enumerate(nodes) if i == 0 or len(n) >= 32]


def _raw_transactions(w3: Web3, block: Mapping[str, Any]) -> list[bytes]:
    raws: list[bytes] = []
    for tx in block["transactions"]:
        raw = encode_transaction(tx)
        if raw is None or keccak(raw) != _b(tx["hash"]):
            raw = _raw_transaction(w3, tx["hash"])
        if raw is None or keccak(raw) != _b(tx["hash"]):
            raise ProofError(
                f"transaction {tx['hash']} (type {tx.get('type')}) cannot be re-encoded and "
                "the node does not serve it raw"
            )
        raws.append(raw)
    return raws


def _raw_transaction(w3: Web3, tx_hash: str) -> bytes | None:
    try:
        raw = _rpc(w3, "eth_getRawTransactionByHash", tx_hash)
    except _RPCError:
        return None
    return None if raw is None else _b(raw)


def _block_receipts(w3: Web3, block: Mapping[str, Any]) -> list[dict[str, Any]]:
    try:
        receipts = _rpc(w3, "eth_getBlockReceipts", block["number"])
    except _RPCError:
        receipts = None
    if receipts is None:
        receipts = [
            _rpc(w3, "eth_getTransactionReceipt", tx["hash"]) for tx in block["transactions"]
        ]
    receipts = sorted(receipts, key=lambda r: _i(r["transactionIndex"]))
    if [r["transactionHash"] for r in receipts] != [
        t["hash"] for t in block["transactions"]
    ] or any(str(r["blockHash"]).lower() != str(block["hash"]).lower() for r in receipts):
        raise ProofError(
            f"the node's receipts are not those of block {block['hash']}: was it reorganised "
            "while the proof was built?"
        )
    return list(receipts)


# ---------------------------------------------------------------------------- proofs


def _event_fragment(contract: str, name: str, topic0: bytes) -> dict[str, Any]:
    for item in load(contract).abi:
        if (
            item["type"] == "event"
            and item["name"] == name
            and keccak(text=event_signature(item)) == topic0
        ):
            return dict(item)
    raise ProofError(f"{contract} has no event {name} with topic 0x{topic0.hex()}")


def _receipt_with_log(w3: Web3, tx_hash: str, log_index: int) -> tuple[dict[str, Any], int]:
    """The transaction's receipt, and the position in it of the log at `log_index`."""
    receipt = _rpc(w3, "eth_getTransactionReceipt", tx_hash)
    if receipt is None:
        raise ProofError(f"the node has no receipt for {tx_hash}: not mined, or not known")
    indexes = [_i(log["logIndex"]) for log in receipt["logs"]]
    if log_index not in indexes:
        raise ProofError(
            f"transaction {tx_hash} has no log with block-wide index {log_index} "
            f"(its logs: {indexes or 'none'})"
        )
    return receipt, indexes.index(log_index)


def _checked_block(w3: Web3, block_hash: str) -> tuple[dict[str, Any], bytes]:
    """The block with its transactions, and its RLP header, checked to hash to it."""
    block = _rpc(w3, "eth_getBlockByHash", block_hash, True)
    if block is None:
        raise ProofError(f"block {block_hash} is gone: reorganised away")
    header = encode_header(block)
    if keccak(header) != _b(block["hash"]):
        raise ProofError(
            f"the header rebuilt from block {_i(block['number'])} hashes to "
            f"0x{keccak(header).hex()}, not {block['hash']}: this node's header layout is "
            f"not supported (fields: {sorted(block)})"
        )
    return block, header


def _transactions_proved(
    w3: Web3, block: Mapping[str, Any], tx_hash: str, tx_index: int
) -> tuple[bytes, HexaryTrie]:
    """The raw transaction and the block's transactions trie, checked against its root."""
    transactions = _raw_transactions(w3, block)
    raw_tx = _raw_transaction(w3, tx_hash) or transactions[tx_index]
    if keccak(raw_tx) != _b(tx_hash) or raw_tx != transactions[tx_index]:
        raise ProofError(f"the raw transaction the node serves does not hash to {tx_hash}")
    tx_trie = _trie(transactions)
    if tx_trie.root_hash != _b(block["transactionsRoot"]):
        raise ProofError(f"the transactions of block {block['hash']} do not re-hash to its root")
    return raw_tx, tx_trie


def _receipts_proved(
    w3: Web3, block: Mapping[str, Any], tx_index: int, log_index: int, position: int
) -> tuple[list[bytes], HexaryTrie]:
    """The block's encoded receipts and their trie, checked against its root, and
    `log_index` (the log at `position` in receipt `tx_index`) checked to be block-wide."""
    receipts = _block_receipts(w3, block)
    encoded = [encode_receipt(r) for r in receipts]
    receipt_trie = _trie(encoded)
    if receipt_trie.root_hash != _b(block["receiptsRoot"]):
        raise ProofError(f"the receipts of block {block['hash']} do not re-hash to its root")
    logs_before = sum(len(r["logs"]) for r in receipts[:tx_index])
    if log_index != logs_before + position:
        raise ProofError(
            f"the node's logIndex {log_index} is not block-wide (expected {logs_before + position})"
        )
    return encoded, receipt_trie


def _decoded_event(
    log: Mapping[str, Any], log_index: int
) -> tuple[EventSpec, dict[str, Any], dict[str, Any]]:
    """The log's event, its arguments and its ABI fragment, which must decode it alike."""
    topics = [_b(t) for t in log["topics"]]
    try:
        spec, args = decode_log(topics, _b(log["data"]))
    except UndecodableLog as exc:
        raise ProofError(f"log {log_index} is not one of the system's events: {exc}") from exc
    fragment = _event_fragment(spec.contract, spec.name, spec.topic0)
    if decode_event(fragment, topics, _b(log["data"])) != args:
        raise ProofError(f"{spec.name}: the fragment and the mirror decode differently")
    return spec, args, fragment


def event_proof(w3: Web3, *, transaction_hash: str | bytes, log_index: int) -> dict[str, Any]:
    """The proof document of one event log (see :mod:`contracts.proofs.verify` for its keys).

    `log_index` is the block-wide index, as ``eth_getLogs`` and receipts give it. Raises
    ProofError when the transaction or log is unknown, the log is not one of the system's
    events, or the node's data does not hash to the block's roots.
    """
    tx_hash = (
        "0x" + transaction_hash.hex()
        if isinstance(transaction_hash, bytes)
        else transaction_hash.lower()
    )
    receipt, position = _receipt_with_log(w3, tx_hash, log_index)
    log = receipt["logs"][position]
    block, header = _checked_block(w3, receipt["blockHash"])
    tx_index = _i(receipt["transactionIndex"])
    raw_tx, tx_trie = _transactions_proved(w3, block, tx_hash, tx_index)
    encoded, receipt_trie = _receipts_proved(w3, block, tx_index, log_index, position)
    spec, args, fragment = _decoded_event(log, log_index)

    doc: dict[str, Any] = {
        "format": EVENT_PROOF_FORMAT,
        "chain_id": _i(_rpc(w3, "eth_chainId")),
        "contract": str(to_checksum_address(log["address"])),
        "event": spec.name,
        "args": args,
        "abi": fragment,
        "transaction_hash": tx_hash,
        "transaction_index": tx_index,
        "block_number": _i(block["number"]),
        "block_hash": str(block["hash"]).lower(),
        "log_index": log_index,
        "log_position": position,
        "header": "0x" + header.hex(),
        "transaction": "0x" + raw_tx.hex(),
        "transaction_proof": _proof(tx_trie, tx_index),
        "receipt": "0x" + encoded[tx_index].hex(),
        "receipt_proof": _proof(receipt_trie, tx_index),
    }
    _self_check(doc)
    return doc


def anchored_item_proof(
    w3: Web3,
    *,
    items: Sequence[Any],
    index: int,
    anchor_transaction_hash: str | bytes,
    anchor_log_index: int,
) -> dict[str, Any]:
    """The proof that ``items[index]`` belongs to a batch whose root was anchored.

    `items` is the whole batch in anchoring order (JSON values; see :mod:`contracts.proofs.merkle`
    for the leaf encoding); the anchor is the ``RootAnchored`` log at `anchor_log_index`
    of `anchor_transaction_hash`. Raises ProofError when that log anchored another root.
    """
    (doc,) = anchored_items_proofs(
        w3,
        items=items,
        indexes=[index],
        anchor_transaction_hash=anchor_transaction_hash,
        anchor_log_index=anchor_log_index,
    )
    return doc


def anchored_items_proofs(
    w3: Web3,
    *,
    items: Sequence[Any],
    indexes: Sequence[int],
    anchor_transaction_hash: str | bytes,
    anchor_log_index: int,
) -> list[dict[str, Any]]:
    """The proofs of several items of one anchored batch (as :func:`anchored_item_proof`),
    the tree built and the anchor's log proven once for all of them."""
    leaves = [item_leaf(item) for item in items]
    root = merkle_root(leaves)
    paths = merkle_paths(leaves, indexes)
    anchor = event_proof(w3, transaction_hash=anchor_transaction_hash, log_index=anchor_log_index)
    if anchor["event"] != "RootAnchored":
        raise ProofError(f"log {anchor_log_index} is a {anchor['event']}, not a RootAnchored")
    if anchor["args"]["root"] != "0x" + root.hex():
        raise ProofError(
            f"the batch's root 0x{root.hex()} is not the anchored root {anchor['args']['root']}"
        )
    docs: list[dict[str, Any]] = []
    for index, path in zip(indexes, paths, strict=True):
        doc: dict[str, Any] = {
            "format": ANCHORED_ITEM_FORMAT,
            "item": items[index],
            "leaf": "0x" + leaves[index].hex(),
            "index": index,
            "path": ["0x" + p.hex() for p in path],
            "root": "0x" + root.hex(),
            "anchor": anchor,
        }
        _self_check(doc)
        docs.append(doc)
    return docs


def _self_check(doc: dict[str, Any]) -> None:
    report = verify_document(doc)
    if not report.ok:
        raise ProofError("the proof built does not verify: " + "; ".join(report.reasons()))


def block_header(w3: Web3, *, number: int) -> tuple[str, str]:
    """Block `number`'s hash and RLP header (``0x``-hex), the header checked to hash to it.

    An evidence pack carries the header of the block it speaks as of: its timestamp is the
    moment certificate status and figures are judged at.
    """
    block = _rpc(w3, "eth_getBlockByNumber", hex(number), False)
    if block is None:
        raise ProofError(f"the node has no block {number}")
    header = encode_header(block)
    if keccak(header) != _b(block["hash"]):
        raise ProofError(
            f"the header rebuilt from block {number} does not hash to {block['hash']}: this "
            "node's header layout is not supported"
        )
    return str(block["hash"]).lower(), "0x" + header.hex()
