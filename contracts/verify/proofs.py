"""The checker of event proofs and anchored-item proofs (see the package docstring for
the facts and what each establishes)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from trie.exceptions import BadTrieProof

from contracts.merkle import hash_pair, item_leaf
from contracts.verify.decoding import (
    decode_event,
    decode_receipt,
    fragment_key,
    same_json,
    transaction_chain_id,
    trie_get,
)
from contracts.verify.node import Node
from contracts.verify.report import (
    Fact,
    MalformedProof,
    NodeUnavailable,
    ProvenEvent,
    VerificationReport,
)
from contracts.verify.summary import check_summary, is_evidence_pack

EVENT_PROOF_FORMAT = "provenant-proof/1"
ANCHORED_ITEM_FORMAT = "provenant-anchored-item/1"

#: The Anchors contract's event, as an anchored-item proof must carry it.
ROOT_ANCHORED_ABI: dict[str, Any] = {
    "type": "event",
    "name": "RootAnchored",
    "anonymous": False,
    "inputs": [
        {"name": "root", "type": "bytes32", "indexed": True},
        {"name": "kind", "type": "bytes32", "indexed": True},
        {"name": "anchorer", "type": "address", "indexed": True},
        {"name": "itemCount", "type": "uint64", "indexed": False},
        {"name": "uri", "type": "string", "indexed": False},
    ],
}

_HEADER_NUMBER = 8
_HEADER_TRANSACTIONS_ROOT = 4
_HEADER_RECEIPTS_ROOT = 5
_HEADER_TIMESTAMP = 11

# ------------------------------------------------------------------------ the checker


def _hex(doc: Mapping[str, Any], key: str, size: int | None = None) -> bytes:
    value = _get(doc, key)
    if not isinstance(value, str) or not value.startswith("0x"):
        raise MalformedProof(f"'{key}' is not 0x-hex")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise MalformedProof(f"'{key}' is not 0x-hex") from None
    if size is not None and len(raw) != size:
        raise MalformedProof(f"'{key}' is not {size} bytes")
    return raw


def _int(doc: Mapping[str, Any], key: str) -> int:
    value = _get(doc, key)
    if type(value) is not int or value < 0:
        raise MalformedProof(f"'{key}' is not a non-negative integer")
    return value


def _hex_list(doc: Mapping[str, Any], key: str) -> list[bytes]:
    value = _get(doc, key)
    if not isinstance(value, list):
        raise MalformedProof(f"'{key}' is not a list")
    return [_hex({key: v}, key) for v in value]


def _get(doc: Mapping[str, Any], key: str) -> Any:
    if key not in doc:
        raise MalformedProof(f"'{key}' is missing")
    return doc[key]


def _short(value: bytes | str) -> str:
    text = value if isinstance(value, str) else "0x" + value.hex()
    return text if len(text) <= 20 else f"{text[:10]}…{text[-6:]}"


@dataclass(frozen=True)
class _EventClaim:
    """What an event proof states, parsed; checked fact by fact against its header."""

    chain_id: int
    block_number: int
    tx_hash: bytes
    tx_index: int
    log_index: int
    position: int
    raw_tx: bytes
    tx_proof: list[bytes]
    receipt: bytes
    receipt_proof: list[bytes]
    contract: bytes
    event: Any
    args: Any
    fragment: Mapping[str, Any]


class Checker:
    def __init__(
        self,
        *,
        rpc_url: str | None,
        chain_id: int | None,
        abi: Sequence[Mapping[str, Any]] | None,
    ) -> None:
        self.node = Node(rpc_url) if rpc_url else None
        self.expected_chain_id = chain_id
        self.trusted = (
            None if abi is None else {fragment_key(f) for f in abi if f.get("type") == "event"}
        )
        self.report = VerificationReport()
        self.proven: list[ProvenEvent] = []  # every event proof whose facts all held

    def fact(self, subject: str, name: str, ok: bool, reason: str) -> bool:
        self.report.facts.append(Fact(subject, name, ok, reason))
        return ok

    def document(self, doc: Any, subject: str = "") -> None:
        if not isinstance(doc, Mapping):
            self.fact(subject, "document", False, "not a JSON object")
            return
        kind = doc.get("format")
        if "proofs" in doc and kind not in (EVENT_PROOF_FORMAT, ANCHORED_ITEM_FORMAT):
            proofs = doc["proofs"]
            if not isinstance(proofs, list) or not proofs:
                self.fact(subject, "document", False, "the evidence pack holds no proofs")
                return
            for i, proof in enumerate(proofs):
                self.document(proof, f"{subject}.proofs[{i}]" if subject else f"proofs[{i}]")
            if not subject and is_evidence_pack(doc):
                check_summary(self, doc)
            return
        check: Callable[[Mapping[str, Any], str], Any]
        if kind == EVENT_PROOF_FORMAT:
            check = self.event_proof
        elif kind == ANCHORED_ITEM_FORMAT:
            check = self.anchored_item
        else:
            self.fact(
                subject,
                "format",
                False,
                f"unknown format {kind!r}: expected {EVENT_PROOF_FORMAT!r}, "
                f"{ANCHORED_ITEM_FORMAT!r} or an evidence pack with 'proofs'",
            )
            return
        try:
            check(doc, subject)
        except MalformedProof as exc:
            self.fact(subject, "document", False, f"malformed proof document: {exc}")

    # ------------------------------------------------------------------ event proofs

    def event_proof(
        self,
        doc: Mapping[str, Any],
        subject: str,
        fragment_must_be: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Check one event proof; the proven log's args when every fact holds."""
        chain_id = _int(doc, "chain_id")
        block_number = _int(doc, "block_number")
        block_hash = _hex(doc, "block_hash", 32)
        header = _hex(doc, "header")
        fragment = _get(doc, "abi")
        if not isinstance(fragment, Mapping) or not isinstance(fragment.get("inputs"), list):
            raise MalformedProof("'abi' is not an event ABI fragment")
        claim = _EventClaim(
            chain_id=chain_id,
            block_number=block_number,
            tx_hash=_hex(doc, "transaction_hash", 32),
            tx_index=_int(doc, "transaction_index"),
            log_index=_int(doc, "log_index"),
            position=_int(doc, "log_position"),
            raw_tx=_hex(doc, "transaction"),
            tx_proof=_hex_list(doc, "transaction_proof"),
            receipt=_hex(doc, "receipt"),
            receipt_proof=_hex_list(doc, "receipt_proof"),
            contract=_hex(doc, "contract", 20),
            event=_get(doc, "event"),
            args=_get(doc, "args"),
            fragment=fragment,
        )

        # The header: everything else hangs off its two roots.
        fields = self.header(subject, header, block_hash, block_number)
        if fields is None:
            return None
        number = int.from_bytes(fields[_HEADER_NUMBER], "big")
        tx_root = bytes(fields[_HEADER_TRANSACTIONS_ROOT])
        receipts_root = bytes(fields[_HEADER_RECEIPTS_ROOT])

        proven = self._block_contents(subject, claim, tx_root, receipts_root, fragment_must_be)
        on_node = self.on_node(subject, chain_id, number, block_hash)
        if proven is not None and on_node:
            self.proven.append(
                ProvenEvent(
                    subject=subject,
                    chain_id=chain_id,
                    contract=str(to_checksum_address(claim.contract)),
                    event=str(claim.event),
                    args=proven,
                    block_number=number,
                    block_hash="0x" + block_hash.hex(),
                    timestamp=int.from_bytes(fields[_HEADER_TIMESTAMP], "big"),
                    transaction_hash="0x" + claim.tx_hash.hex(),
                    log_index=claim.log_index,
                    fragment=dict(claim.fragment),
                )
            )
        return proven if on_node else None

    def header(
        self, subject: str, header: bytes, block_hash: bytes, block_number: int
    ) -> list[Any] | None:
        """The header's fields when it hashes to `block_hash` and is `block_number`."""
        try:
            fields = rlp.decode(header)
            number = int.from_bytes(fields[_HEADER_NUMBER], "big")
            for index in (_HEADER_TRANSACTIONS_ROOT, _HEADER_RECEIPTS_ROOT, _HEADER_TIMESTAMP):
                bytes(fields[index])
        except (rlp.DecodingError, IndexError, TypeError):
            self.fact(subject, "header", False, "the header is not an RLP block header")
            return None
        actual = keccak(header)
        if actual != block_hash:
            self.fact(
                subject,
                "header",
                False,
                f"the header hashes to {_short(actual)}, not the stated block hash "
                f"{_short(block_hash)}: the header was altered or belongs to another block",
            )
            return None
        if number != block_number:
            self.fact(
                subject,
                "header",
                False,
                f"the header is block {number}, the proof says {block_number}",
            )
            return None
        self.fact(subject, "header", True, f"block {number} header hashes to {_short(block_hash)}")
        return list(fields)

    def _block_contents(
        self,
        subject: str,
        claim: _EventClaim,
        tx_root: bytes,
        receipts_root: bytes,
        fragment_must_be: Mapping[str, Any] | None,
    ) -> dict[str, Any] | None:
        """The transaction, receipt and log facts under a proven header's roots."""
        c = claim
        ok = self._in_trie(subject, "transactionsRoot", tx_root, c.tx_index, c.tx_proof, c.raw_tx)
        if ok and keccak(c.raw_tx) != c.tx_hash:
            ok = self.fact(
                subject,
                "transaction",
                False,
                f"the proven transaction hashes to {_short(keccak(c.raw_tx))}, "
                f"not {_short(c.tx_hash)}",
            )
        elif ok:
            self.fact(
                subject,
                "transaction",
                True,
                f"{_short(c.tx_hash)} is transaction {c.tx_index} of block {c.block_number}",
            )
            ok = self._chain_id(subject, c.raw_tx, c.chain_id)

        if not self._in_trie(
            subject, "receiptsRoot", receipts_root, c.tx_index, c.receipt_proof, c.receipt
        ):
            return None
        self.fact(subject, "receipt", True, f"receipt of transaction {c.tx_index} is in the block")
        try:
            status, logs = decode_receipt(c.receipt)
        except (rlp.DecodingError, ValueError, TypeError):
            return self._fail(subject, "status", "the receipt does not decode")
        if status != b"\x01":
            return self._fail(
                subject,
                "status",
                "the transaction failed (receipt status 0): a reverted transaction has no "
                "effects and no events"
                if status == b""
                else "the receipt carries a state root, not a status (pre-Byzantium)",
            )
        self.fact(subject, "status", True, "the transaction succeeded")
        proven = self._log(subject, logs, c, fragment_must_be)
        if proven is None:
            return None
        if c.log_index < c.position or (c.tx_index == 0 and c.log_index != c.position):
            must = f" (it must be {c.position})" if c.tx_index == 0 else ""
            return self._fail(
                subject,
                "log index",
                f"block-wide log index {c.log_index} is impossible for log {c.position} of "
                f"transaction {c.tx_index}{must}",
            )
        self.fact(
            subject,
            "log index",
            True,
            f"log {c.log_index} of block {c.block_number} "
            f"(log {c.position} of transaction {c.tx_index})",
        )
        return proven if ok else None

    def _fail(self, subject: str, name: str, reason: str) -> dict[str, Any] | None:
        """Record a rejected fact; None, so a check can ``return self._fail(…)``."""
        self.fact(subject, name, False, reason)
        return None

    def _in_trie(
        self,
        subject: str,
        root_name: str,
        root: bytes,
        index: int,
        proof: Sequence[bytes],
        expected: bytes,
    ) -> bool:
        """Whether the trie under `root` holds `expected` at `index`; records a rejection."""
        what = "transaction" if root_name == "transactionsRoot" else "receipt"
        try:
            value = trie_get(root, index, proof)
        except (BadTrieProof, rlp.DecodingError, KeyError, ValueError, TypeError) as exc:
            return self.fact(
                subject,
                what,
                False,
                f"the {what} proof does not resolve under the header's {root_name}: {exc}",
            )
        if not value:
            return self.fact(
                subject, what, False, f"the header's {root_name} holds no {what} at index {index}"
            )
        if value != expected:
            return self.fact(
                subject,
                what,
                False,
                f"the header's {root_name} holds different bytes at index {index} than the "
                f"given {what}: the {what} was altered",
            )
        return True

    def _chain_id(self, subject: str, raw_tx: bytes, chain_id: int) -> bool:
        signed = transaction_chain_id(raw_tx)
        if signed is None:
            return self.fact(
                subject,
                "chain id",
                False,
                "the transaction carries no chain id (a pre-EIP-155 signature), so its chain "
                "is not proven",
            )
        if signed != chain_id:
            return self.fact(
                subject,
                "chain id",
                False,
                f"the signed transaction is for chain {signed}, the proof says chain {chain_id}",
            )
        if self.expected_chain_id is not None and chain_id != self.expected_chain_id:
            return self.fact(
                subject,
                "chain id",
                False,
                f"proof is for chain {chain_id}, expected chain {self.expected_chain_id}",
            )
        return self.fact(subject, "chain id", True, f"signed for chain {chain_id}")

    def _log(
        self,
        subject: str,
        logs: list[Any],
        claim: _EventClaim,
        fragment_must_be: Mapping[str, Any] | None,
    ) -> dict[str, Any] | None:
        position, event, fragment = claim.position, claim.event, claim.fragment
        if position >= len(logs):
            return self._fail(
                subject, "log", f"the receipt has {len(logs)} logs, none at position {position}"
            )
        address, topics, data = logs[position]
        emitter = to_checksum_address(address)
        if bytes(address) != claim.contract:
            return self._fail(
                subject,
                "log",
                f"the log was emitted by {emitter}, not the stated contract "
                f"{to_checksum_address(claim.contract)}",
            )
        if fragment.get("name") != event:
            return self._fail(
                subject,
                "log",
                f"the ABI fragment is for {fragment.get('name')!r}, the proof names {event!r}",
            )
        try:
            key = fragment_key(fragment)
        except (KeyError, TypeError):
            return self._fail(subject, "log", "the ABI fragment is malformed")
        if fragment_must_be is not None and key != fragment_key(fragment_must_be):
            return self._fail(
                subject,
                "log",
                f"the ABI fragment differs from the {fragment_must_be['name']} event this "
                "verifier knows",
            )
        if fragment_must_be is None and self.trusted is not None and key not in self.trusted:
            return self._fail(
                subject, "log", f"the ABI fragment for {event} is not in the trusted ABI"
            )
        try:
            decoded = decode_event(fragment, [bytes(t) for t in topics], bytes(data))
        except (ValueError, KeyError, TypeError) as exc:
            return self._fail(subject, "log", f"the log is not a {event} event: {exc}")
        if not isinstance(claim.args, Mapping) or not same_json(decoded, dict(claim.args)):
            return self._fail(subject, "log", _args_difference(decoded, claim.args))
        self.fact(subject, "log", True, f"{event} emitted by {emitter} with the stated args")
        return decoded

    def on_node(self, subject: str, chain_id: int, number: int, block_hash: bytes) -> bool:
        if self.node is None:
            return True
        try:
            node_chain = self.node.chain_id()
            if node_chain != chain_id:
                return self.fact(
                    subject,
                    "node chain",
                    False,
                    f"proof is for chain {chain_id}, the node is chain {node_chain}",
                )
            self.fact(subject, "node chain", True, f"the node serves chain {node_chain}")
            on_node = self.node.block_hash(number)
            if on_node is None:
                return self.fact(
                    subject,
                    "canonical block",
                    False,
                    f"the node has no block {number} (its head is {self.node.head()}): the "
                    "proof's block is not on its chain",
                )
        except NodeUnavailable as exc:
            return self.fact(subject, "canonical block", False, str(exc))
        stated = "0x" + block_hash.hex()
        if on_node != stated:
            return self.fact(
                subject,
                "canonical block",
                False,
                f"block {number} on the node is {on_node}, not {stated}: the proof's block is "
                "not on the canonical chain (reorganised away)",
            )
        return self.fact(
            subject, "canonical block", True, f"block {number} is on the node's canonical chain"
        )

    # ---------------------------------------------------------- anchored-item proofs

    def anchored_item(self, doc: Mapping[str, Any], subject: str) -> None:
        item = _get(doc, "item")
        stated_leaf = _hex(doc, "leaf", 32)
        index = _int(doc, "index")
        path = _hex_list(doc, "path")
        root = _hex(doc, "root", 32)
        anchor = _get(doc, "anchor")
        if not isinstance(anchor, Mapping) or anchor.get("format") != EVENT_PROOF_FORMAT:
            raise MalformedProof(f"'anchor' is not a {EVENT_PROOF_FORMAT} document")
        anchor_subject = f"{subject}.anchor" if subject else "anchor"
        try:
            anchored = self.event_proof(anchor, anchor_subject, ROOT_ANCHORED_ABI)
        except MalformedProof as exc:
            anchored = None
            self.fact(anchor_subject, "document", False, f"malformed proof document: {exc}")

        try:
            leaf = item_leaf(item)
        except (TypeError, ValueError) as exc:
            self.fact(subject, "item leaf", False, f"the item is not canonical JSON: {exc}")
            return
        if leaf != stated_leaf:
            self.fact(
                subject,
                "item leaf",
                False,
                f"the item hashes to leaf {_short(leaf)}, not the stated {_short(stated_leaf)}: "
                "the item was altered",
            )
        else:
            self.fact(subject, "item leaf", True, f"the item hashes to leaf {_short(leaf)}")
        node = leaf
        for sibling in path:
            node = hash_pair(node, sibling)
        if node != root:
            self.fact(
                subject,
                "merkle path",
                False,
                f"the Merkle path from the item's leaf ends at {_short(node)}, not the root "
                f"{_short(root)}",
            )
            return
        self.fact(subject, "merkle path", True, f"the item's leaf leads to root {_short(root)}")
        if anchored is None:
            self.fact(subject, "anchored root", False, "the RootAnchored log is not proven")
            return
        anchored_root = bytes.fromhex(str(anchored["root"])[2:])
        if anchored_root != root:
            self.fact(
                subject,
                "anchored root",
                False,
                f"the batch root {_short(root)} is not the root anchored by the proven "
                f"RootAnchored log ({_short(anchored_root)})",
            )
            return
        count = int(anchored["itemCount"])
        if index >= count:
            self.fact(
                subject,
                "anchored root",
                False,
                f"item index {index} is outside the anchored batch of {count} items",
            )
            return
        self.fact(
            subject,
            "anchored root",
            True,
            f"root {_short(root)} was anchored by {anchored['anchorer']} "
            f"(a batch of {count} items)",
        )


def _args_difference(decoded: Mapping[str, Any], stated: Any) -> str:
    if not isinstance(stated, Mapping):
        return "the proof's args are not a JSON object"
    for name, value in decoded.items():
        if name not in stated:
            return f"the log's argument {name} is missing from the proof's args"
        if not same_json(value, stated[name]):
            return (
                f"the log's args differ from the stated ones: {name} is "
                f"{json.dumps(value)} in the log, {json.dumps(stated[name])} in the proof"
            )
    extra = sorted(set(stated) - set(decoded))
    return f"the proof's args name arguments the event does not have: {', '.join(extra)}"


# ----------------------------------------------------------------------- entry points
