"""Proofs a third party can check without trusting us: Merkle batches, event proofs, verifier.

The Merkle tests are unit tests (known answers from @openzeppelin/merkle-tree 1.0.8); the
proof tests build proofs on a real anvil node, tamper with them one field at a time and
expect each tampering to be rejected with its own reason.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import rlp
from eth_typing import HexStr
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.types import RPCEndpoint, TxReceipt

from contracts.chain.artifacts import load
from contracts.chain.client import LocalSigner, send_transaction
from contracts.chain.domain import ascii32, canonical_hash
from contracts.proofs.build import ProofError, anchored_item_proof, block_header, event_proof
from contracts.proofs.merkle import (
    hash_pair,
    item_bytes,
    item_leaf,
    merkle_path,
    merkle_root,
    merkle_verify,
)
from contracts.proofs.verify import VerificationReport, verify_document
from contracts.proofs.verify.summary import PACK_FORMAT, SECTIONS
from deploy.local.node import AnvilNode
from tests.background import background
from tests.contracts.consortium import H1, H2, TEST_GAS, Consortium

T = TypeVar("T", bound=Callable[..., Any])
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def on_anvil(test: T) -> T:
    """Marks a test that needs the anvil node (chain tier, node subset); the Merkle unit
    tests of this module stay in the fast tier."""
    return pytest.mark.chain(pytest.mark.node(test))  # type: ignore[no-any-return]


# ---------------------------------------------------------------------- Merkle (unit)

#: Eight sensor readings, the batch the known answers below were computed over.
READINGS = [{"reading": k, "sensor": "T-1"} for k in range(7)]

#: Roots of SimpleMerkleTree.of(leaves, {sortLeaves: false}) from @openzeppelin/merkle-tree.
OZ_ROOTS = {
    2: "0x3780edcec7526bf2936d3a906bf13240fb53356e7aeae615a0ce8caf512fc6b5",
    3: "0x265182bbb0d0f99333915e9c8a042cce122dcf4304ebf76a4f9c366b9bdc4bbd",
    5: "0x87e0ab3c17cabfdab2e687eacc101cf4c37fdb15756fab12205326c799b5e035",
    7: "0x5f8880a962e3b25ed8d4d47d87bf9b4ab3d148e283ad9086f1c508ab6e03ce2d",
}
#: getProof(i) of the 5-leaf tree from the same library.
OZ_PROOFS_5 = [
    [
        "0x3c900e51e5544d05e056dec3ece3b228006630d28e98ea8d17aba912ce8d4c6a",
        "0x451c038e66669088b8c61dbf0948580767c71172a344319812ec5b65dcb8d879",
        "0x11b8b42694202b3f95074db871137fcbb941d30513e3278fa2349e6197186b9c",
    ],
    [
        "0x2f03c2d3f534199fd18677ed5bc7a98a908a1eda6b89bf1375fe60f289718fbc",
        "0x451c038e66669088b8c61dbf0948580767c71172a344319812ec5b65dcb8d879",
        "0x11b8b42694202b3f95074db871137fcbb941d30513e3278fa2349e6197186b9c",
    ],
    [
        "0x7bd5b99220376d1e0d6d8786dffbd2ad59038e4cec1f2d0ae8e02059d46f3113",
        "0x27498b22feff2ae32a9860ae194e424227853fc0c03a02fe555da37ac723e4f4",
    ],
    [
        "0xf60a42fea459129f3d1b63674a5103699aacf5391de88fe0789d126fc037703d",
        "0x27498b22feff2ae32a9860ae194e424227853fc0c03a02fe555da37ac723e4f4",
    ],
    [
        "0x3780edcec7526bf2936d3a906bf13240fb53356e7aeae615a0ce8caf512fc6b5",
        "0x11b8b42694202b3f95074db871137fcbb941d30513e3278fa2349e6197186b9c",
    ],
]


def hexes(values: list[bytes]) -> list[str]:
    return ["0x" + v.hex() for v in values]


@pytest.mark.unit
def test_a_leaf_is_the_double_keccak_of_the_items_canonical_json() -> None:
    item = {"sensor": "T-1", "reading": 21, "place": "Lubumbashi dépôt"}
    assert item_bytes(item) == '{"place":"Lubumbashi dépôt","reading":21,"sensor":"T-1"}'.encode()
    assert "0x" + keccak(item_bytes(item)).hex() == canonical_hash(item)
    assert item_leaf(item) == keccak(keccak(item_bytes(item)))
    assert item_leaf({"b": 1, "a": 2}) == item_leaf({"a": 2, "b": 1})  # key order is irrelevant


@pytest.mark.unit
def test_an_item_with_nan_has_no_canonical_encoding() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        item_leaf({"reading": float("nan")})


@pytest.mark.unit
@pytest.mark.parametrize("count", sorted(OZ_ROOTS))
def test_roots_match_openzeppelins_merkle_tree_including_odd_counts(count: int) -> None:
    leaves = [item_leaf(r) for r in READINGS[:count]]
    root = merkle_root(leaves)
    assert "0x" + root.hex() == OZ_ROOTS[count]
    for i, leaf in enumerate(leaves):
        assert merkle_verify(leaf, merkle_path(leaves, i), root)


@pytest.mark.unit
def test_paths_match_openzeppelins_get_proof() -> None:
    leaves = [item_leaf(r) for r in READINGS[:5]]
    assert [hexes(merkle_path(leaves, i)) for i in range(5)] == OZ_PROOFS_5


@pytest.mark.unit
def test_a_small_tree_is_built_from_sorted_pairs() -> None:
    a, b, c = (keccak(text=t) for t in "abc")
    assert hash_pair(a, b) == hash_pair(b, a) == keccak(min(a, b) + max(a, b))
    # OpenZeppelin's layout for three leaves: leaves 0 and 1 pair up, leaf 2 joins at the top.
    assert merkle_root([a, b]) == hash_pair(a, b)
    assert merkle_root([a, b, c]) == hash_pair(c, hash_pair(b, a))
    assert merkle_path([a, b, c], 0) == [b, c]
    assert merkle_path([a, b, c], 2) == [hash_pair(a, b)]


@pytest.mark.unit
def test_a_single_leaf_is_its_own_root_with_an_empty_path() -> None:
    leaf = item_leaf({"reading": 1})
    assert merkle_root([leaf]) == leaf
    assert merkle_path([leaf], 0) == []
    assert merkle_verify(leaf, [], leaf)


@pytest.mark.unit
def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="empty batch"):
        merkle_root([])


@pytest.mark.unit
def test_leaves_must_be_32_bytes_and_indexes_inside_the_batch() -> None:
    with pytest.raises(ValueError, match="leaf 1 is not 32 bytes"):
        merkle_root([b"\x01" * 32, b"short"])
    with pytest.raises(IndexError):
        merkle_path([b"\x01" * 32], 1)


@pytest.mark.unit
def test_a_wrong_leaf_or_sibling_does_not_verify() -> None:
    leaves = [item_leaf(r) for r in READINGS]
    root = merkle_root(leaves)
    path = merkle_path(leaves, 3)
    assert not merkle_verify(item_leaf({"reading": 3, "sensor": "T-2"}), path, root)
    assert not merkle_verify(leaves[3], [path[0], b"\x00" * 32, *path[2:]], root)
    assert not merkle_verify(leaves[3], path[:-1], root)


# ------------------------------------------------------------------- proofs on anvil


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(RPCEndpoint(method), list(params))
    assert "error" not in response, response
    return response.get("result")


def mine_together(
    c: Consortium, calls: list[tuple[LocalSigner, ContractFunction]]
) -> list[TxReceipt]:
    """Send `calls` with automine off and mine them in one block."""
    rpc(c.w3, "evm_setAutomine", False)
    try:
        hashes = [
            HexStr(str(send_transaction(c.w3, who, call, gas=TEST_GAS, wait=False)))
            for who, call in calls
        ]
        rpc(c.w3, "evm_mine")
    finally:
        rpc(c.w3, "evm_setAutomine", True)
    receipts = [c.w3.eth.wait_for_transaction_receipt(h) for h in hashes]
    assert all(r["status"] == 1 for r in receipts)
    assert len({r["blockNumber"] for r in receipts}) == 1
    return receipts


BATCH = [
    {"sensor": "T-7", "at": f"2025-06-01T10:{m:02d}:00Z", "celsius": 4 + m % 3} for m in range(5)
]


@dataclass
class Proven:
    handoff: dict[str, Any]  # HandoffAccepted, alone in its block
    crowded: dict[str, Any]  # a log of the last transaction of a three-transaction block
    anchored: dict[str, Any]  # BATCH[3], anchored in that same block
    crowded_block_size: int


@pytest.fixture(scope="module")
def proven(anvil_consortium: Consortium) -> Proven:
    c = anvil_consortium
    lot = c.register_lot(c.miner, quantity=5_000)
    handoff_id = c.handoff(c.miner, c.refinery, lot, 2_000)
    accepted = c.accept(c.refinery, handoff_id, lot, c.miner)
    proofs = [
        event_proof(c.w3, transaction_hash=log["transactionHash"], log_index=log["logIndex"])
        for log in accepted["logs"]
    ]
    (handoff,) = [p for p in proofs if p["event"] == "HandoffAccepted"]

    root = merkle_root([item_leaf(i) for i in BATCH])
    receipts = mine_together(
        c,
        [
            (c.maker, c.lots.functions.registerLot(c.new_id(), 10, 3, b"\x01" * 32, b"\x02" * 32)),
            (c.miner, c.lots.functions.registerLot(c.new_id(), 20, 1, b"\x01" * 32, b"\x02" * 32)),
            (
                c.reporter,
                c.anchors.functions.anchor(root, ascii32("SENSOR_READINGS"), len(BATCH), "u"),
            ),
        ],
    )
    last = max(receipts, key=lambda r: r["transactionIndex"])
    crowded = event_proof(
        c.w3, transaction_hash=last["transactionHash"], log_index=last["logs"][-1]["logIndex"]
    )
    anchor_receipt = receipts[2]
    anchored = anchored_item_proof(
        c.w3,
        items=BATCH,
        index=3,
        anchor_transaction_hash=anchor_receipt["transactionHash"],
        anchor_log_index=anchor_receipt["logs"][0]["logIndex"],
    )
    return Proven(handoff, crowded, anchored, len(receipts))


def tampered(doc: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    copied = copy.deepcopy(doc)
    change(copied)
    return copied


def rejection(report: VerificationReport, fact: str) -> str:
    """The reason `fact` was rejected (the test fails if it was not)."""
    assert not report.ok
    reasons = [f.reason for f in report.rejected if f.name == fact]
    assert reasons, f"{fact} was not rejected: {report.summary()}"
    return reasons[0]


def flip_byte(hex_text: str, at: int) -> str:
    raw = bytearray.fromhex(hex_text[2:])
    raw[at] ^= 0x01
    return "0x" + raw.hex()


@on_anvil
def test_a_proof_is_accepted_offline_and_by_the_node(proven: Proven, anvil: AnvilNode) -> None:
    doc = proven.handoff
    assert doc["event"] == "HandoffAccepted"
    assert doc["args"]["quantity"] == 2_000
    json.dumps(doc)  # plain JSON

    offline = verify_document(doc)
    assert offline.ok, offline.summary()
    assert [f.name for f in offline.facts] == [
        "header", "transaction", "chain id", "receipt", "status", "log", "log index",
    ]  # fmt: skip
    online = verify_document(doc, rpc_url=anvil.url, chain_id=1337)
    assert online.ok, online.summary()
    assert {"node chain", "canonical block"} <= {f.name for f in online.facts}


@on_anvil
def test_a_proof_from_a_crowded_block_carries_real_trie_paths(proven: Proven) -> None:
    doc = proven.crowded
    assert proven.crowded_block_size == 3
    assert doc["transaction_index"] == 2
    assert doc["log_index"] > doc["log_position"]  # earlier transactions logged too
    assert len(doc["receipt_proof"]) > 1
    assert len(doc["transaction_proof"]) > 1
    header = rlp.decode(bytes.fromhex(doc["header"][2:]))
    assert len(header) == 20  # anvil on Cancun: London, Shanghai and Cancun fields present
    assert verify_document(doc).ok


@on_anvil
def test_an_altered_log_argument_is_rejected(proven: Proven) -> None:
    doc = tampered(proven.handoff, lambda d: d["args"].update(quantity=20_000))
    reason = rejection(verify_document(doc), "log")
    assert reason == (
        "the log's args differ from the stated ones: quantity is 2000 in the log, "
        "20000 in the proof"
    )


@on_anvil
def test_a_renamed_anchor_argument_is_rejected(proven: Proven) -> None:
    def swap_root_and_kind(d: dict[str, Any]) -> None:
        inputs = d["anchor"]["abi"]["inputs"]
        inputs[0]["name"], inputs[1]["name"] = "kind", "root"
        args = d["anchor"]["args"]
        d["anchor"]["args"] = {"kind": args["root"], "root": args["kind"], **args}

    reason = rejection(verify_document(tampered(proven.anchored, swap_root_and_kind)), "log")
    assert "differs from the RootAnchored event this verifier knows" in reason


@on_anvil
def test_a_trusted_abi_pins_argument_names(proven: Proven) -> None:
    lots_abi = load("Lots").abi
    assert verify_document(proven.handoff, abi=lots_abi).ok

    def rename(d: dict[str, Any]) -> None:  # same types, so topic 0 still matches
        d["abi"]["inputs"][3]["name"] = "recipient"
        d["args"] = {("recipient" if k == "receiver" else k): v for k, v in d["args"].items()}

    renamed = tampered(proven.handoff, rename)
    assert verify_document(renamed).ok  # names come from the fragment…
    assert rejection(verify_document(renamed, abi=lots_abi), "log") == (
        "the ABI fragment for HandoffAccepted is not in the trusted ABI"
    )  # …unless the verifier holds the contract's own ABI


@on_anvil
def test_an_altered_receipt_is_rejected(proven: Proven) -> None:
    doc = tampered(proven.handoff, lambda d: d.update(receipt=flip_byte(d["receipt"], 40)))
    reason = rejection(verify_document(doc), "receipt")
    assert reason == (
        "the header's receiptsRoot holds different bytes at index 0 than the given receipt: "
        "the receipt was altered"
    )


@on_anvil
def test_an_altered_transaction_is_rejected(proven: Proven) -> None:
    doc = tampered(proven.crowded, lambda d: d.update(transaction=flip_byte(d["transaction"], 30)))
    reason = rejection(verify_document(doc), "transaction")
    assert "transactionsRoot holds different bytes at index 2" in reason
    assert not any(f.name == "chain id" for f in verify_document(doc).facts)


@on_anvil
def test_an_altered_header_or_block_hash_is_rejected(proven: Proven) -> None:
    def later_timestamp(d: dict[str, Any]) -> None:
        fields = rlp.decode(bytes.fromhex(d["header"][2:]))
        fields[11] = (int.from_bytes(fields[11], "big") + 1).to_bytes(8, "big").lstrip(b"\0")
        d["header"] = "0x" + rlp.encode(fields).hex()

    for change in (later_timestamp, lambda d: d.update(block_hash="0x" + "ab" * 32)):
        report = verify_document(tampered(proven.handoff, change))
        assert re.fullmatch(
            r"the header hashes to 0x\w+…\w+, not the stated block hash 0x\w+…\w+: "
            r"the header was altered or belongs to another block",
            rejection(report, "header"),
        )
        assert len(report.facts) == 1  # nothing hangs off an unproven header


@on_anvil
def test_a_wrong_block_number_is_rejected(proven: Proven) -> None:
    doc = tampered(proven.handoff, lambda d: d.update(block_number=d["block_number"] + 1))
    n = proven.handoff["block_number"]
    assert rejection(verify_document(doc), "header") == (
        f"the header is block {n}, the proof says {n + 1}"
    )


@on_anvil
def test_a_forged_block_passes_offline_but_not_the_node(proven: Proven, anvil: AnvilNode) -> None:
    """Offline, a proof shows consistency with a block hash; only a node shows the block."""

    def forge(d: dict[str, Any]) -> None:
        fields = rlp.decode(bytes.fromhex(d["header"][2:]))
        fields[12] = b"forged"  # extraData
        d["header"] = "0x" + rlp.encode(fields).hex()
        d["block_hash"] = "0x" + keccak(rlp.encode(fields)).hex()

    doc = tampered(proven.handoff, forge)
    assert verify_document(doc).ok
    reason = rejection(verify_document(doc, rpc_url=anvil.url), "canonical block")
    assert reason == (
        f"block {doc['block_number']} on the node is {proven.handoff['block_hash']}, not "
        f"{doc['block_hash']}: the proof's block is not on the canonical chain (reorganised away)"
    )


@on_anvil
def test_a_proof_for_another_chain_is_rejected(proven: Proven) -> None:
    expected = verify_document(proven.handoff, chain_id=31337)
    assert rejection(expected, "chain id") == "proof is for chain 1337, expected chain 31337"

    claimed = tampered(proven.handoff, lambda d: d.update(chain_id=31337))
    assert rejection(verify_document(claimed), "chain id") == (
        "the signed transaction is for chain 1337, the proof says chain 31337"
    )


@on_anvil
def test_a_node_of_another_chain_is_refused(proven: Proven) -> None:
    with AnvilNode(chain_id=31337) as other:
        report = verify_document(proven.handoff, rpc_url=other.url)
    assert rejection(report, "node chain") == "proof is for chain 1337, the node is chain 31337"
    assert not any(f.name == "canonical block" for f in report.facts)


@on_anvil
def test_a_block_reorganised_away_is_rejected_by_the_node(
    anvil_consortium: Consortium, anvil: AnvilNode
) -> None:
    c = anvil_consortium
    snapshot = rpc(c.w3, "evm_snapshot")
    lot = c.register_lot(c.miner, quantity=7)
    receipt = c.accept(c.refinery, c.handoff(c.miner, c.refinery, lot, 7), lot, c.miner)
    doc = event_proof(
        c.w3, transaction_hash=receipt["transactionHash"], log_index=receipt["logs"][0]["logIndex"]
    )
    assert verify_document(doc, rpc_url=anvil.url).ok
    n = doc["block_number"]

    assert rpc(c.w3, "evm_revert", snapshot)
    gone = verify_document(doc, rpc_url=anvil.url)
    assert rejection(gone, "canonical block") == (
        f"the node has no block {n} (its head is {c.w3.eth.block_number}): "
        "the proof's block is not on its chain"
    )
    rpc(c.w3, "anvil_mine", hex(n - c.w3.eth.block_number + 2))
    replaced = verify_document(doc, rpc_url=anvil.url)
    on_node = c.w3.eth.get_block(n)["hash"].to_0x_hex()
    assert rejection(replaced, "canonical block") == (
        f"block {n} on the node is {on_node}, not {doc['block_hash']}: the proof's block is "
        "not on the canonical chain (reorganised away)"
    )
    assert verify_document(doc).ok  # offline it is still a consistent proof of that block


@on_anvil
def test_an_anchored_item_proof_is_accepted(proven: Proven, anvil: AnvilNode) -> None:
    doc = proven.anchored
    assert doc["item"] == BATCH[3]
    assert doc["anchor"]["event"] == "RootAnchored"
    assert doc["anchor"]["args"]["root"] == doc["root"]
    report = verify_document(doc, rpc_url=anvil.url)
    assert report.ok, report.summary()
    assert [f.name for f in report.facts if not f.subject] == [
        "item leaf", "merkle path", "anchored root",
    ]  # fmt: skip


@on_anvil
def test_a_copied_root_landing_first_does_not_take_the_anchor_or_its_proofs(
    anvil_consortium: Consortium, anvil: AnvilNode
) -> None:
    """A participant who copies a pending anchor's root and gets it mined first only
    creates its own anchor: the publisher's anchor lands too, and its proofs name it."""
    c = anvil_consortium
    batch = [{"sensor": "T-9", "at": f"2025-07-01T08:{m:02d}:00Z", "celsius": m} for m in range(3)]
    root = merkle_root([item_leaf(i) for i in batch])
    copied, honest = mine_together(
        c,
        [
            (c.distributor, c.anchors.functions.anchor(root, ascii32("COPIED"), 3, "x")),
            (c.reporter, c.anchors.functions.anchor(root, ascii32("SENSOR_READINGS"), 3, "u")),
        ],
    )
    assert copied["transactionIndex"] < honest["transactionIndex"]
    block = honest["blockNumber"]
    assert c.anchors.functions.anchoredAt(c.reporter.address, root).call() == block
    assert c.anchors.functions.anchoredAt(c.distributor.address, root).call() == block

    doc = anchored_item_proof(
        c.w3,
        items=batch,
        index=1,
        anchor_transaction_hash=honest["transactionHash"],
        anchor_log_index=honest["logs"][0]["logIndex"],
    )

    assert doc["anchor"]["args"]["anchorer"] == c.reporter.address
    report = verify_document(doc, rpc_url=anvil.url)
    assert report.ok, report.summary()
    (fact,) = [f for f in report.facts if f.name == "anchored root"]
    assert fact.reason == (
        f"root 0x{root.hex()[:8]}…{root.hex()[-6:]} was anchored by {c.reporter.address} "
        "(a batch of 3 items)"
    )


@on_anvil
def test_an_altered_item_is_rejected(proven: Proven) -> None:
    doc = tampered(proven.anchored, lambda d: d["item"].update(celsius=-40))
    report = verify_document(doc)
    assert re.fullmatch(
        r"the item hashes to leaf 0x\w+…\w+, not the stated 0x\w+…\w+: the item was altered",
        rejection(report, "item leaf"),
    )
    assert rejection(report, "merkle path").startswith("the Merkle path from the item's leaf")

    # Re-hashing the leaf does not help: the path no longer leads to the anchored root.
    releafed = tampered(doc, lambda d: d.update(leaf="0x" + item_leaf(d["item"]).hex()))
    assert rejection(verify_document(releafed), "merkle path")


@on_anvil
def test_a_batch_root_other_than_the_anchored_one_is_rejected(proven: Proven) -> None:
    other = [*BATCH, {"sensor": "T-7", "extra": True}]
    leaves = [item_leaf(i) for i in other]

    def substitute_batch(d: dict[str, Any]) -> None:
        d["path"] = hexes(merkle_path(leaves, 3))
        d["root"] = "0x" + merkle_root(leaves).hex()

    reason = rejection(
        verify_document(tampered(proven.anchored, substitute_batch)), "anchored root"
    )
    assert reason.startswith("the batch root 0x")
    assert reason.endswith(
        "is not the root anchored by the proven RootAnchored log ("
        + (proven.anchored["root"][:10] + "…" + proven.anchored["root"][-6:] + ")")
    )


@on_anvil
def test_an_evidence_pack_checks_every_proof_and_names_the_bad_one(proven: Proven) -> None:
    pack = {
        "lot": 1001,
        "title": "ignored",
        "proofs": [proven.handoff, proven.crowded, proven.anchored],
    }
    assert verify_document(pack).ok

    bad = tampered(pack, lambda p: p["proofs"][1]["args"].update(owner="0x" + "00" * 20))
    report = verify_document(bad)
    assert [(f.subject, f.name) for f in report.rejected] == [("proofs[1]", "log")]
    assert rejection(verify_document({"proofs": []}), "document") == (
        "the evidence pack holds no proofs"
    )


@on_anvil
def test_a_malformed_document_gets_a_reason_not_a_traceback(proven: Proven) -> None:
    doc = tampered(proven.handoff, lambda d: d.pop("receipt_proof"))
    assert rejection(verify_document(doc), "document") == (
        "malformed proof document: 'receipt_proof' is missing"
    )
    assert rejection(verify_document({"format": "x/9"}), "format").startswith(
        "unknown format 'x/9'"
    )


@on_anvil
def test_legacy_and_access_list_transactions_are_proven_from_their_fields(
    anvil_consortium: Consortium, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node without eth_getRawTransactionByHash and eth_getBlockReceipts (older Besu):
    transactions are re-encoded from their fields and receipts fetched one by one."""
    c = anvil_consortium
    w3 = c.w3
    lots = c.lots.address

    def signed(who: LocalSigner, extra: dict[str, Any]) -> bytes:
        call = c.lots.functions.registerLot(c.new_id(), 5, 1, b"\x01" * 32, b"\x02" * 32)
        tx = {
            "nonce": w3.eth.get_transaction_count(who.address),
            "gasPrice": 0,
            "gas": TEST_GAS,
            "to": lots,
            "value": 0,
            "data": call._encode_transaction_data(),
            "chainId": 1337,
            **extra,
        }
        return who.sign_transaction(tx)

    legacy = signed(c.miner, {})
    access_list = signed(
        c.maker, {"type": 1, "accessList": [{"address": lots, "storageKeys": ["0x" + "00" * 32]}]}
    )
    rpc(w3, "evm_setAutomine", False)
    try:
        hashes = [w3.eth.send_raw_transaction(raw) for raw in (legacy, access_list)]
        rpc(w3, "evm_mine")
    finally:
        rpc(w3, "evm_setAutomine", True)
    receipts = [w3.eth.wait_for_transaction_receipt(h) for h in hashes]
    assert [r["type"] for r in receipts] == [0, 1]

    asked: list[str] = []
    make_request = w3.provider.make_request

    def without_raw_and_block_receipts(method: RPCEndpoint, params: Any) -> Any:
        asked.append(method)
        if method in ("eth_getRawTransactionByHash", "eth_getBlockReceipts"):
            return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "no"}}
        return make_request(method, params)

    monkeypatch.setattr(w3.provider, "make_request", without_raw_and_block_receipts)
    for receipt in receipts:
        doc = event_proof(
            w3,
            transaction_hash=receipt["transactionHash"],
            log_index=receipt["logs"][0]["logIndex"],
        )
        assert doc["transaction"] == "0x" + (legacy if receipt["type"] == 0 else access_list).hex()
        assert verify_document(doc).ok
    assert "eth_getTransactionReceipt" in asked


@on_anvil
def test_a_log_the_transaction_did_not_emit_cannot_be_proven(
    proven: Proven, anvil_w3: Web3
) -> None:
    with pytest.raises(ProofError, match="has no log with block-wide index 99"):
        event_proof(anvil_w3, transaction_hash=proven.handoff["transaction_hash"], log_index=99)


@pytest.fixture
def written(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    """Writes a document to a new file in tmp_path and returns its path."""

    def write(doc: dict[str, Any]) -> Path:
        path = tmp_path / f"proof-{len(list(tmp_path.iterdir()))}.json"
        path.write_text(json.dumps(doc))
        return path

    return write


def run_verifier(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contracts.proofs.verify", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@on_anvil
def test_the_command_line_exits_0_for_a_valid_proof_and_1_with_the_reason(
    proven: Proven, anvil: AnvilNode, written: Callable[[dict[str, Any]], Path]
) -> None:
    lots_abi = str(PROJECT_ROOT / "contracts" / "artifacts" / "Lots.json")
    bad = tampered(proven.handoff, lambda d: d["args"].update(quantity=1))
    runs = {
        "valid": [str(written(proven.anchored))],
        "online": [str(written(proven.handoff)), "--rpc", anvil.url, "--chain-id", "1337",
                   "--abi", lots_abi],
        "rejected": [str(written(bad))],
        "other_chain": [str(written(proven.handoff)), "--chain-id", "31337"],
        "missing": [str(PROJECT_ROOT / "no-such-proof.json")],
    }  # fmt: skip
    with background() as jobs:  # five fresh processes: side by side
        for name, args in runs.items():
            jobs.submit(name, run_verifier, *args)
        valid, online, rejected, other_chain, missing = (jobs.result(n) for n in runs)

    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert valid.stdout.splitlines()[-1] == "VALID: 10 facts proven"
    assert "valid  anchored root: root 0x" in valid.stdout

    assert online.returncode == 0, online.stdout + online.stderr

    assert rejected.returncode == 1
    assert "REJECTED  log: the log's args differ from the stated ones: quantity is 2000" in (
        rejected.stdout
    )
    assert rejected.stdout.splitlines()[-1] == "REJECTED: 1 of 6 facts failed"

    assert other_chain.returncode == 1
    assert "proof is for chain 1337, expected chain 31337" in other_chain.stdout

    assert missing.returncode == 1
    assert missing.stdout.startswith("REJECTED  cannot read the input")


# ------------------------------------------------------------- evidence pack summaries


def _pack(c: Consortium) -> dict[str, Any]:
    """A participant evidence pack of one lot handed from the miner to the refinery, its
    summary rebuilt from the proofs (the web app builds the same from its mirror)."""
    lot = c.new_id()
    registered = c.act(c.miner, c.lots.functions.registerLot(lot, 900, 1, H1, H2))
    offered = c.act(c.miner, c.lots.functions.initiateHandoff(lot, c.refinery.address, 300))
    (initiated,) = c.events(offered, c.lots, "HandoffInitiated")
    accepted = c.accept(c.refinery, int(initiated["handoffId"]), lot, c.miner)
    wanted = ("LotRegistered", "HandoffInitiated", "HandoffAccepted")
    proofs = [
        proof
        for r in (registered, offered, accepted)
        for log in r["logs"]
        if (
            proof := event_proof(
                c.w3, transaction_hash=log["transactionHash"], log_index=log["logIndex"]
            )
        )["event"]
        in wanted
    ]
    number = c.w3.eth.block_number
    block_hash, header = block_header(c.w3, number=number)
    pack: dict[str, Any] = {
        "format": PACK_FORMAT,
        "tier": "participant",
        "chain_id": c.w3.eth.chain_id,
        "contracts": {"Lots": c.lots.address, "Certificates": c.certificates.address},
        "lot_id": lot,
        "as_of": {"block_number": number, "block_hash": block_hash, "header": header},
        "proofs": proofs,
    }
    checked = verify_document(pack)
    assert checked.recomputed is not None
    pack.update({k: checked.recomputed[k] for k in SECTIONS})
    return pack


@on_anvil
def test_a_pack_summary_is_rebuilt_from_its_proofs_and_checked_against_the_node(
    anvil_consortium: Consortium, anvil: AnvilNode
) -> None:
    c = anvil_consortium
    pack = _pack(c)
    assert [h["status"] for h in pack["custody"]] == ["accepted"]
    assert pack["custody"][0]["receiver"] == c.refinery.address
    report = verify_document(pack, rpc_url=anvil.url)
    assert report.ok, report.summary()
    assert any(f.subject == "as_of" and f.name == "canonical block" for f in report.facts)

    stolen = tampered(pack, lambda d: d["custody"][0].update(receiver=c.stranger.address))
    assert rejection(verify_document(stolen), "custody[0].receiver").startswith(
        f"custody[0].receiver differs from the proven handoff {pack['custody'][0]['handoff_id']} "
        "(HandoffInitiated, HandoffAccepted): the pack says"
    )
    relabelled = tampered(pack, lambda d: d["contracts"].update(Lots=c.anchors.address))
    assert "not the pack's contract" in rejection(verify_document(relabelled), "contracts")
    later = tampered(pack, lambda d: d["as_of"].update(header=flip_byte(d["as_of"]["header"], 40)))
    assert rejection(verify_document(later), "header").startswith("the header hashes to")
    old = tampered(pack, lambda d: d.update(format="provenant-evidence/1"))
    assert "unknown evidence pack format" in rejection(verify_document(old), "format")
    # A bare list of proofs with no summary claims nothing beyond them.
    assert verify_document({"proofs": pack["proofs"]}).ok


@on_anvil
def test_a_pack_cannot_rename_event_arguments_to_move_custody(
    anvil_consortium: Consortium,
) -> None:
    pack = _pack(anvil_consortium)
    index = next(i for i, p in enumerate(pack["proofs"]) if p["event"] == "HandoffInitiated")

    def swap(d: dict[str, Any]) -> None:
        # receiver and escrow are both unindexed addresses: the topics do not tell them apart.
        proof = d["proofs"][index]
        for item in proof["abi"]["inputs"]:
            item["name"] = {"receiver": "escrow", "escrow": "receiver"}.get(
                item["name"], item["name"]
            )
        proof["args"] = {k: proof["args"][k] for k in proof["args"]}
        proof["args"]["receiver"], proof["args"]["escrow"] = (
            proof["args"]["escrow"],
            proof["args"]["receiver"],
        )
        d["custody"][0]["receiver"] = proof["args"]["receiver"]

    report = verify_document(tampered(pack, swap))
    assert all(f.ok for f in report.facts if f.subject.startswith("proofs["))
    assert "ABI fragment for HandoffInitiated is not the" in rejection(report, "abi")
