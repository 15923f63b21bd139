"""Decode the system's event logs on the hot path with eth_abi directly.

web3's per-log ``get_event_data`` re-derives the ABI for every log; here each event's
topic-0, indexed types and data types are worked out once, so a log costs one
``eth_abi.decode`` over its data plus slicing of its topics. Decoded arguments are
JSON-ready: addresses checksummed, bytes as 0x-hex, integers as Python ints.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from contracts.chain.artifacts import SYSTEM_CONTRACTS, abi_type, load


class UndecodableLog(ValueError):
    """A log that no known event matches, or whose data does not decode."""


@dataclass(frozen=True)
class EventSpec:
    contract: str
    name: str
    topic0: bytes
    indexed: tuple[tuple[str, str], ...]  # (name, type) of topics 1..3
    data: tuple[tuple[str, str], ...]  # (name, type) of the ABI-encoded data
    order: tuple[str, ...]  # argument names in declaration order

    def decode(self, topics: list[bytes], data: bytes) -> dict[str, Any]:
        if len(topics) != len(self.indexed) + 1:
            raise UndecodableLog(f"{self.name}: expected {len(self.indexed) + 1} topics")
        args: dict[str, Any] = {}
        for (name, kind), topic in zip(self.indexed, topics[1:], strict=True):
            args[name] = _topic_value(kind, topic)
        try:
            # Strings decode as bytes first: a participant's free text (a reason, a URI) may
            # hold invalid UTF-8 or NUL characters, which must neither hide the event nor
            # stop a database that refuses NUL in JSON.
            values = decode([_wire_type(kind) for _, kind in self.data], data)
        except Exception as exc:  # eth_abi raises several decoding error types
            raise UndecodableLog(f"{self.name}: {exc}") from exc
        for (name, kind), value in zip(self.data, values, strict=True):
            args[name] = _json(kind, value)
        return {name: args[name] for name in self.order}


def _topic_value(kind: str, topic: bytes) -> Any:
    """An indexed value from its 32-byte topic, without a trip through eth_abi.

    Static types only (the system's events index no strings, bytes or arrays, whose topics
    would be hashes): addresses are the low 20 bytes, integers big-endian words.
    """
    if kind == "address":
        return _checksum("0x" + topic[12:].hex())
    if kind.startswith("uint"):
        return int.from_bytes(topic, "big")
    if kind.startswith("int"):
        return int.from_bytes(topic, "big", signed=True)
    if kind == "bool":
        return topic[-1] == 1
    if kind.startswith("bytes") and kind != "bytes":
        return "0x" + topic[: int(kind[5:])].hex()
    return "0x" + topic.hex()  # a hashed dynamic value


@functools.lru_cache(maxsize=65_536)
def _checksum(address: str) -> str:
    # A few thousand participants and escrows recur across millions of logs.
    return str(to_checksum_address(address))


def _wire_type(kind: str) -> str:
    return "bytes" + kind[6:] if kind.startswith("string") else kind


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _json(kind: str, value: Any) -> Any:
    if kind.endswith("]"):
        inner = kind[: kind.rindex("[")]
        return [_json(inner, v) for v in value]
    if kind == "address":
        return _checksum(value)
    if kind == "string":
        return _text(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, tuple):
        return list(value)
    return value


@functools.cache
def event_specs() -> dict[bytes, EventSpec]:
    """Every event of the system's contracts by topic-0 (first declaration wins)."""
    specs: dict[bytes, EventSpec] = {}
    for contract in SYSTEM_CONTRACTS:
        for item in load(contract).abi:
            if item["type"] != "event" or item.get("anonymous"):
                continue
            inputs = item["inputs"]
            signature = f"{item['name']}({','.join(abi_type(i) for i in inputs)})"
            topic0 = keccak(text=signature)
            specs.setdefault(
                topic0,
                EventSpec(
                    contract=contract,
                    name=item["name"],
                    topic0=topic0,
                    indexed=tuple((i["name"], abi_type(i)) for i in inputs if i["indexed"]),
                    data=tuple((i["name"], abi_type(i)) for i in inputs if not i["indexed"]),
                    order=tuple(i["name"] for i in inputs),
                ),
            )
    return specs


def decode_log(topics: list[bytes], data: bytes) -> tuple[EventSpec, dict[str, Any]]:
    """The event spec and decoded arguments of one log; UndecodableLog when unknown."""
    if not topics:
        raise UndecodableLog("anonymous log (no topics)")
    spec = event_specs().get(topics[0])
    if spec is None:
        raise UndecodableLog(f"unknown event topic 0x{topics[0].hex()}")
    return spec, spec.decode(topics, data)
