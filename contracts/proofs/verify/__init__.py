"""Check a Provenant proof without trusting Provenant: only hashes, the chain and an ABI.

``python -m contracts.proofs.verify proof.json [--rpc URL] [--chain-id N] [--abi FILE]`` prints
one line per fact and exits 0 when every fact holds, 1 when any is rejected. Offline it
makes no network call; ``--rpc`` adds the one fact a file cannot carry: that the proof's
block is on the node's canonical chain (and that an evidence pack's as-of block is). The
web page calls :func:`verify_document`. The checker needs only this package,
:mod:`contracts.proofs.merkle`, :mod:`contracts.proofs.figures`, :mod:`contracts.proofs.readings`,
:mod:`contracts.chain.domain`, ``rlp``, ``trie``, ``eth_abi`` and ``eth_utils`` (no web3;
``contracts.chain`` imports nothing by itself); an evidence pack's event fragments are
compared with the compiled artifacts in ``contracts/artifacts`` when they are there. So a
third party can run or rewrite it.

Modules: :mod:`.proofs` checks event and anchored-item proofs fact by fact (headers,
anchors, the node), :mod:`.receipts` the facts under a proven header (transaction, chain
id, receipt, log), :mod:`.rebuild` rebuilds an evidence pack's summary from the proven
facts and :mod:`.summary` compares it with the pack's, :mod:`.readings` checks a reading
evidence pack, :mod:`.decoding` decodes logs,
receipts and trie proofs, :mod:`.node` is the ``--rpc`` client and :mod:`.report` what a
check found.

Event proof (``"format": "provenant-proof/1"``), as built by :mod:`contracts.proofs.build`
    ``chain_id``, ``contract`` (checksummed emitter), ``event`` and ``args`` (decoded,
    JSON-ready: addresses checksummed, bytes ``0x``-hex, integers as integers, strings as
    text), ``abi`` (the event's ABI fragment), ``transaction_hash``,
    ``transaction_index``, ``block_number``, ``block_hash``, ``log_index`` (block-wide, as
    in ``eth_getLogs``), ``log_position`` (the log's index inside its receipt),
    ``header`` (the RLP block header), ``transaction`` (the raw signed transaction, EIP-2718
    bytes for typed ones) and ``transaction_proof``, ``receipt`` (type byte || rlp([status,
    cumulativeGasUsed, logsBloom, logs]), or the bare rlp for legacy) and
    ``receipt_proof``. Byte strings are ``0x``-hex; a proof is the list of RLP-encoded
    Merkle-Patricia trie nodes from the root to the entry whose key is
    ``rlp(transaction_index)``, as ``eth_getProof`` returns them.

Anchored-item proof (``"format": "provenant-anchored-item/1"``)
    ``item`` (the JSON item), ``leaf``, ``index``, ``path`` (sibling hashes), ``root`` and
    ``anchor``, the event proof of the Anchors contract's ``RootAnchored`` log. Leaves and
    nodes are those of :mod:`contracts.proofs.merkle` (OpenZeppelin-compatible).

Bare list: any JSON object with a list of the above under ``"proofs"`` and none of an
evidence pack's summary sections; each proof is checked and other keys claim nothing.

Reading evidence (``"format": "provenant-reading-evidence/1"``): a lot's sensor readings
in and around its excursions, each with its anchored-item proof; checked by
:mod:`.readings` (every reading is the item its proof proved, a canonical reading of
:mod:`contracts.proofs.readings` about the pack's lot, inside an excursion window, anchored
as ``SENSOR_READINGS``).

Evidence pack (``"format": "provenant-evidence/2"``, as built by the web app): the proofs,
plus ``tier``, ``lot_id``, ``contracts``, ``as_of`` (the number, hash and RLP header of the
block it speaks as of) and the summary a reader looks at: ``lineage``, ``custody``,
``certificates`` (with ``status`` as of that block), ``quarantines`` and ``figures``. Every
summary claim is rebuilt from the proven events alone and must match (see
:mod:`contracts.proofs.verify.summary`); ``labels`` (names) and ``holders`` are reported as
unproven notes.

What each fact establishes (a fact whose prerequisite failed is not checked):

- ``header``: the header bytes hash to ``block_hash`` and are block ``block_number``; from
  here on, the header's ``transactionsRoot`` and ``receiptsRoot`` are as good as the hash.
- ``transaction``: the trie under ``transactionsRoot`` holds exactly the given raw
  transaction at ``transaction_index``, and it hashes to ``transaction_hash``.
- ``chain id``: the chain id inside the signed transaction (EIP-155 / EIP-2718) is the
  document's ``chain_id`` (and the expected one, when given). The signature and the
  transaction hash cover it, so the document cannot be relabelled as another network's.
- ``receipt``: the trie under ``receiptsRoot`` holds exactly the given receipt at the same
  index, so the receipt belongs to that transaction.
- ``status``: the transaction succeeded (a reverted one has no effects and no logs).
- ``log``: the receipt's log at ``log_position`` was emitted by ``contract``; its topic 0
  is the hash of the fragment's signature, so event name and argument types are proven,
  and it decodes with the fragment to exactly ``args``. Argument *names* come from the
  fragment: pass ``--abi`` (the contract's ABI from its verified source) to require the
  fragment to be the contract's own. The ``RootAnchored`` fragment of an anchored-item
  proof is always compared with the one this verifier knows.
- ``log index``: ``log_index`` can be this log's block-wide index (it is at least its
  position, and equal to it in the block's first transaction). The log itself is pinned
  by block, transaction index and position; the block-wide number locates mirrored rows.
- ``item leaf``, ``merkle path``, ``anchored root``: the leaf recomputed from the item is
  the stated one, the path leads from it to ``root``, and ``root`` is the root of the
  proven ``RootAnchored`` log (with ``index`` below its ``itemCount``).
- ``node chain`` and ``canonical block`` (``--rpc`` only): the node serves the proof's
  chain and its block at ``block_number`` has ``block_hash``; otherwise the block was
  reorganised away (or never was on that node's chain).

What the offline facts do not establish: that block ``block_hash`` is on the chain. A file
can only show that the log, receipt and signed transaction belong to the block with that
hash; anyone can assemble a self-consistent header around real transactions. Ask a node
of the chain (``--rpc``) or compare ``block_hash`` with one you trust. Nor does a proof
tell who runs ``contract``: compare the address with the deployment you trust (e.g. the
consortium's published manifest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts.proofs.verify.decoding import (
    abi_type,
    decode_event,
    decode_receipt,
    event_signature,
    transaction_chain_id,
)
from contracts.proofs.verify.proofs import (
    ANCHORED_ITEM_FORMAT,
    EVENT_PROOF_FORMAT,
    ROOT_ANCHORED_ABI,
    Checker,
)
from contracts.proofs.verify.report import Fact, MalformedProof, NodeUnavailable, VerificationReport

__all__ = [
    "ANCHORED_ITEM_FORMAT",
    "EVENT_PROOF_FORMAT",
    "ROOT_ANCHORED_ABI",
    "Fact",
    "MalformedProof",
    "NodeUnavailable",
    "VerificationReport",
    "abi_type",
    "decode_event",
    "decode_receipt",
    "event_signature",
    "transaction_chain_id",
    "verify_document",
]


def verify_document(
    doc: dict[str, Any],
    *,
    rpc_url: str | None = None,
    chain_id: int | None = None,
    abi: Sequence[Mapping[str, Any]] | None = None,
) -> VerificationReport:
    """Check an event proof, an anchored-item proof or an evidence pack (``"proofs"``).

    Without `rpc_url` no network call is made. `chain_id` is the chain the proofs must be
    about; `abi` (event fragments of contracts you trust) pins argument names.
    """
    checker = Checker(rpc_url=rpc_url, chain_id=chain_id, abi=abi)
    checker.document(doc)
    return checker.report
