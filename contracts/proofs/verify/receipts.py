"""The facts under a proven block header's roots: the transaction and the chain id it
was signed for, the receipt and its status, and the log with its arguments (see the
package docstring for what each establishes)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from trie.exceptions import BadTrieProof

from contracts.proofs.verify.decoding import (
    decode_event,
    decode_receipt,
    fragment_key,
    same_json,
    transaction_chain_id,
    trie_get,
)
from contracts.proofs.verify.report import Fact, VerificationReport


def short(value: bytes | str) -> str:
    text = value if isinstance(value, str) else "0x" + value.hex()
    return text if len(text) <= 20 else f"{text[:10]}…{text[-6:]}"


@dataclass(frozen=True)
class EventClaim:
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


class BlockContents:
    """Records facts, and checks what an event proof says its block holds; the
    :class:`~contracts.proofs.verify.proofs.Checker` checks the header first."""

    report: VerificationReport
    expected_chain_id: int | None
    trusted: set[tuple[Any, ...]] | None  # fragment keys of a trusted ABI, if one was given

    def fact(self, subject: str, name: str, ok: bool, reason: str) -> bool:
        self.report.facts.append(Fact(subject, name, ok, reason))
        return ok

    def _block_contents(
        self,
        subject: str,
        claim: EventClaim,
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
                f"the proven transaction hashes to {short(keccak(c.raw_tx))}, "
                f"not {short(c.tx_hash)}",
            )
        elif ok:
            self.fact(
                subject,
                "transaction",
                True,
                f"{short(c.tx_hash)} is transaction {c.tx_index} of block {c.block_number}",
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
        claim: EventClaim,
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
