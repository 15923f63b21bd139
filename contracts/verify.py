"""Check a Provenant proof without trusting Provenant: only hashes, the chain and an ABI.

``python -m contracts.verify proof.json [--rpc URL] [--chain-id N] [--abi FILE]`` prints
one line per fact and exits 0 when every fact holds, 1 when any is rejected. Offline it
makes no network call; ``--rpc`` adds the one fact a file cannot carry: that the proof's
block is on the node's canonical chain. The web page calls :func:`verify_document`. The
checker needs only this file, :mod:`contracts.merkle`, ``rlp``, ``trie``, ``eth_abi`` and
``eth_utils`` (no web3, no Provenant artifacts), so a third party can run or rewrite it.

Event proof (``"format": "provenant-proof/1"``), as built by :mod:`contracts.proofs`
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
    nodes are those of :mod:`contracts.merkle` (OpenZeppelin-compatible).

Evidence pack: any JSON object with a list of the above under ``"proofs"``; each is checked
and other keys are ignored.

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

import argparse
import json
import sys
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rlp
from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from trie.exceptions import BadTrieProof
from trie.hexary import HexaryTrie

from contracts.merkle import hash_pair, item_leaf

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


@dataclass(frozen=True)
class Fact:
    """One checked claim: `subject` says which proof (``""``, ``anchor``, ``proofs[2]``)."""

    subject: str
    name: str
    ok: bool
    reason: str

    def __str__(self) -> str:
        where = f"{self.subject} " if self.subject else ""
        return f"{'valid' if self.ok else 'REJECTED'}  {where}{self.name}: {self.reason}"


@dataclass
class VerificationReport:
    """Every fact checked, in order; the document is valid when all of them hold."""

    facts: list[Fact] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.facts) and all(f.ok for f in self.facts)

    @property
    def rejected(self) -> list[Fact]:
        return [f for f in self.facts if not f.ok]

    def reasons(self) -> list[str]:
        """The reasons of the rejected facts (empty when the document is valid)."""
        return [f.reason for f in self.rejected]

    def summary(self) -> str:
        lines = [str(f) for f in self.facts]
        if self.ok:
            lines.append(f"VALID: {len(self.facts)} facts proven")
        else:
            lines.append(f"REJECTED: {len(self.rejected)} of {len(self.facts)} facts failed")
        return "\n".join(lines)


class MalformedProof(ValueError):
    """A field is missing or not of the expected shape."""


class NodeUnavailable(RuntimeError):
    """The node given with --rpc did not answer (or answered with an error)."""


# ----------------------------------------------------------------------- event decoding


def abi_type(item: Mapping[str, Any]) -> str:
    """The canonical ABI type of an input, tuples spelled out, as in signatures."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in item["components"]) + ")" + kind[5:]
    return kind


def event_signature(fragment: Mapping[str, Any]) -> str:
    return f"{fragment['name']}({','.join(abi_type(i) for i in fragment['inputs'])})"


def decode_event(
    fragment: Mapping[str, Any], topics: Sequence[bytes], data: bytes
) -> dict[str, Any]:
    """A log's arguments decoded with an event's ABI fragment, JSON-ready.

    Addresses checksummed, bytes ``0x``-hex, integers as ints, strings as text (invalid
    UTF-8 and NUL replaced by U+FFFD, as the mirror stores them); indexed dynamic values
    are their topic (a hash). ValueError when the log is not this event.
    """
    inputs = list(fragment["inputs"])
    indexed = [i for i in inputs if i.get("indexed")]
    plain = [i for i in inputs if not i.get("indexed")]
    anonymous = bool(fragment.get("anonymous"))
    expected = len(indexed) + (0 if anonymous else 1)
    if len(topics) != expected:
        raise ValueError(f"the log has {len(topics)} topics, {fragment['name']} has {expected}")
    if not anonymous:
        topic0 = keccak(text=event_signature(fragment))
        if topics[0] != topic0:
            raise ValueError(
                f"topic 0 is 0x{topics[0].hex()}, not {event_signature(fragment)}"
                f" (0x{topic0.hex()})"
            )
    args: dict[str, Any] = {}
    for item, topic in zip(indexed, topics[expected - len(indexed) :], strict=True):
        kind = abi_type(item)
        if _is_dynamic(kind):
            args[item["name"]] = "0x" + topic.hex()  # the topic is a hash of the value
        else:
            (value,) = decode([kind], topic)
            args[item["name"]] = _json(item, value)
    try:
        values = decode([_wire_type(abi_type(i)) for i in plain], data)
    except Exception as exc:  # eth_abi raises several decoding error types
        raise ValueError(f"the log's data does not decode: {exc}") from exc
    for item, value in zip(plain, values, strict=True):
        args[item["name"]] = _json(item, value)
    return {i["name"]: args[i["name"]] for i in inputs}


def _is_dynamic(kind: str) -> bool:
    return kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")


def _wire_type(kind: str) -> str:
    # Strings decode as bytes so that invalid UTF-8 is replaced rather than refused.
    return "bytes" + kind[6:] if kind.startswith("string") else kind


def _json(item: Mapping[str, Any], value: Any) -> Any:
    kind = str(item["type"])
    if kind.endswith("]"):
        inner = dict(item, type=kind[: kind.rindex("[")])
        return [_json(inner, v) for v in value]
    if kind == "tuple":
        return [_json(c, v) for c, v in zip(item["components"], value, strict=True)]
    if kind == "address":
        return str(to_checksum_address(value))
    if kind == "string":
        return bytes(value).decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


def _same(a: Any, b: Any) -> bool:
    """JSON equality that tells ``true`` from ``1``."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _fragment_key(fragment: Mapping[str, Any]) -> tuple[Any, ...]:
    inputs = tuple(
        (str(i["name"]), abi_type(i), bool(i.get("indexed"))) for i in fragment["inputs"]
    )
    return (fragment.get("name"), bool(fragment.get("anonymous")), inputs)


# ------------------------------------------------------------------ chain data decoding


def transaction_chain_id(raw: bytes) -> int | None:
    """The chain id a signed transaction commits to; None for a pre-EIP-155 legacy one."""
    if raw and raw[0] < 0x7F:  # EIP-2718 typed: type || rlp([chainId, …])
        fields = rlp.decode(raw[1:])
        return int.from_bytes(fields[0], "big")
    fields = rlp.decode(raw)  # legacy: [nonce, gasPrice, gas, to, value, data, v, r, s]
    v = int.from_bytes(fields[6], "big")
    return (v - 35) // 2 if v >= 35 else None


def decode_receipt(encoded: bytes) -> tuple[bytes, list[Any]]:
    """A consensus receipt's status field and logs ([address, [topics], data] each)."""
    payload = encoded[1:] if encoded and encoded[0] < 0x7F else encoded
    status, _cumulative_gas, _bloom, logs = rlp.decode(payload)
    return status, logs


def _trie_get(root: bytes, index: int, proof: Sequence[bytes]) -> bytes:
    nodes = [rlp.decode(node) for node in proof]
    value = HexaryTrie.get_from_proof(root, rlp.encode(index), nodes)  # type: ignore[no-untyped-call]
    return bytes(value)


# --------------------------------------------------------------------------- the node


class _Node:
    """The few JSON-RPC calls --rpc needs, over urllib (answers cached per run)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._cache: dict[tuple[str, str], Any] = {}

    def call(self, method: str, *params: Any) -> Any:
        key = (method, json.dumps(params))
        if key not in self._cache:
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
            request = urllib.request.Request(
                self.url, body.encode(), {"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=15) as response:
                    answer = json.loads(response.read())
            except (OSError, ValueError) as exc:
                raise NodeUnavailable(f"the node at {self.url} did not answer: {exc}") from exc
            if answer.get("error"):
                raise NodeUnavailable(f"the node at {self.url} refused {method}: {answer['error']}")
            self._cache[key] = answer.get("result")
        return self._cache[key]

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_hash(self, number: int) -> str | None:
        block = self.call("eth_getBlockByNumber", hex(number), False)
        return None if block is None else str(block["hash"]).lower()

    def head(self) -> int:
        return int(self.call("eth_blockNumber"), 16)


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


class _Checker:
    def __init__(
        self,
        *,
        rpc_url: str | None,
        chain_id: int | None,
        abi: Sequence[Mapping[str, Any]] | None,
    ) -> None:
        self.node = _Node(rpc_url) if rpc_url else None
        self.expected_chain_id = chain_id
        self.trusted = (
            None if abi is None else {_fragment_key(f) for f in abi if f.get("type") == "event"}
        )
        self.report = VerificationReport()

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
        try:
            fields = rlp.decode(header)
            number = int.from_bytes(fields[_HEADER_NUMBER], "big")
            tx_root = bytes(fields[_HEADER_TRANSACTIONS_ROOT])
            receipts_root = bytes(fields[_HEADER_RECEIPTS_ROOT])
        except (rlp.DecodingError, IndexError, TypeError):
            return self._fail(subject, "header", "the header is not an RLP block header")
        actual = keccak(header)
        if actual != block_hash:
            return self._fail(
                subject,
                "header",
                f"the header hashes to {_short(actual)}, not the stated block hash "
                f"{_short(block_hash)}: the header was altered or belongs to another block",
            )
        if number != block_number:
            return self._fail(
                subject, "header", f"the header is block {number}, the proof says {block_number}"
            )
        self.fact(subject, "header", True, f"block {number} header hashes to {_short(block_hash)}")

        proven = self._block_contents(subject, claim, tx_root, receipts_root, fragment_must_be)
        on_node = self._on_node(subject, chain_id, number, block_hash)
        return proven if on_node else None

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
            value = _trie_get(root, index, proof)
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
            key = _fragment_key(fragment)
        except (KeyError, TypeError):
            return self._fail(subject, "log", "the ABI fragment is malformed")
        if fragment_must_be is not None and key != _fragment_key(fragment_must_be):
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
        if not isinstance(claim.args, Mapping) or not _same(decoded, dict(claim.args)):
            return self._fail(subject, "log", _args_difference(decoded, claim.args))
        self.fact(subject, "log", True, f"{event} emitted by {emitter} with the stated args")
        return decoded

    def _on_node(self, subject: str, chain_id: int, number: int, block_hash: bytes) -> bool:
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
        if not _same(value, stated[name]):
            return (
                f"the log's args differ from the stated ones: {name} is "
                f"{json.dumps(value)} in the log, {json.dumps(stated[name])} in the proof"
            )
    extra = sorted(set(stated) - set(decoded))
    return f"the proof's args name arguments the event does not have: {', '.join(extra)}"


# ----------------------------------------------------------------------- entry points


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
    checker = _Checker(rpc_url=rpc_url, chain_id=chain_id, abi=abi)
    checker.document(doc)
    return checker.report


def _load_abi(path: Path) -> list[dict[str, Any]]:
    raw = json.loads(path.read_text())
    abi = raw["abi"] if isinstance(raw, dict) else raw
    if not isinstance(abi, list):
        raise ValueError("expected a JSON ABI (a list) or an artifact with an 'abi' list")
    return abi


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contracts.verify",
        description="Check a Provenant proof document or evidence pack.",
    )
    parser.add_argument("proof", type=Path, help="proof document or evidence pack (JSON)")
    parser.add_argument("--rpc", help="a node of the chain: also check the block is canonical")
    parser.add_argument("--chain-id", type=int, help="the chain the proof must be about")
    parser.add_argument(
        "--abi",
        type=Path,
        action="append",
        help="trusted contract ABI or artifact (JSON) that pins event argument names; "
        "repeat for several contracts",
    )
    args = parser.parse_args(argv)
    try:
        doc = json.loads(args.proof.read_text())
        abi = [f for path in args.abi for f in _load_abi(path)] if args.abi else None
    except (OSError, ValueError, KeyError) as exc:
        print(f"REJECTED  cannot read the input: {exc}")
        return 1
    report = verify_document(doc, rpc_url=args.rpc, chain_id=args.chain_id, abi=abi)
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
