"""The checker of event proofs and anchored-item proofs (see the package docstring for
the facts and what each establishes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import rlp
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from contracts.proofs.merkle import hash_pair, item_leaf
from contracts.proofs.verify.decoding import fragment_key
from contracts.proofs.verify.node import Node
from contracts.proofs.verify.readings import check_readings, is_readings_pack
from contracts.proofs.verify.receipts import BlockContents, EventClaim, short
from contracts.proofs.verify.report import (
    MalformedProof,
    NodeUnavailable,
    ProvenEvent,
    ProvenItem,
    VerificationReport,
)
from contracts.proofs.verify.summary import check_summary, is_evidence_pack

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


class Checker(BlockContents):
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
        self.proven_items: list[ProvenItem] = []  # every anchored-item proof that held

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
            elif not subject and is_readings_pack(doc):
                check_readings(self, doc)
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
        claim = EventClaim(
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
                f"the header hashes to {short(actual)}, not the stated block hash "
                f"{short(block_hash)}: the header was altered or belongs to another block",
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
        self.fact(subject, "header", True, f"block {number} header hashes to {short(block_hash)}")
        return list(fields)

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
                f"the item hashes to leaf {short(leaf)}, not the stated {short(stated_leaf)}: "
                "the item was altered",
            )
        else:
            self.fact(subject, "item leaf", True, f"the item hashes to leaf {short(leaf)}")
        node = leaf
        for sibling in path:
            node = hash_pair(node, sibling)
        if node != root:
            self.fact(
                subject,
                "merkle path",
                False,
                f"the Merkle path from the item's leaf ends at {short(node)}, not the root "
                f"{short(root)}",
            )
            return
        self.fact(subject, "merkle path", True, f"the item's leaf leads to root {short(root)}")
        if anchored is None:
            self.fact(subject, "anchored root", False, "the RootAnchored log is not proven")
            return
        anchored_root = bytes.fromhex(str(anchored["root"])[2:])
        if anchored_root != root:
            self.fact(
                subject,
                "anchored root",
                False,
                f"the batch root {short(root)} is not the root anchored by the proven "
                f"RootAnchored log ({short(anchored_root)})",
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
            f"root {short(root)} was anchored by {anchored['anchorer']} (a batch of {count} items)",
        )
        self._remember(subject, anchor_subject, item, root, anchored)

    def _remember(
        self, subject: str, anchor_subject: str, item: Any, root: bytes, anchored: Mapping[str, Any]
    ) -> None:
        """Keep an item whose every fact (its own and its anchor's) held."""
        proven = [p for p in self.proven if p.subject == anchor_subject]
        held = all(f.ok for f in self.report.facts if f.subject in (subject, anchor_subject))
        if proven and held:
            self.proven_items.append(
                ProvenItem(
                    subject=subject,
                    item=item,
                    root="0x" + root.hex(),
                    kind=str(anchored["kind"]),
                    anchor=proven[-1],
                )
            )
