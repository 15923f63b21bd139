"""Decoding of the chain data inside a proof: event logs by their ABI fragment, signed
transactions' chain ids, consensus receipts and Merkle-Patricia trie proofs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import rlp
from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from trie.hexary import HexaryTrie


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


def same_json(a: Any, b: Any) -> bool:
    """JSON equality that tells ``true`` from ``1``."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return bool(a == b)


def fragment_key(fragment: Mapping[str, Any]) -> tuple[Any, ...]:
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


def trie_get(root: bytes, index: int, proof: Sequence[bytes]) -> bytes:
    nodes = [rlp.decode(node) for node in proof]
    value = HexaryTrie.get_from_proof(root, rlp.encode(index), nodes)  # type: ignore[no-untyped-call]
    return bytes(value)
