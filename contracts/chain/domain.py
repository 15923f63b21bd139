"""Constants shared with the contracts: role bits, lot kinds, certificate subjects."""

from __future__ import annotations

import json
from enum import IntEnum, IntFlag
from typing import Any

from eth_utils.crypto import keccak


class Role(IntFlag):
    """Business roles as the Lots contract stores them (one bit each)."""

    MINER = 1 << 0
    MANUFACTURER = 1 << 1
    DISTRIBUTOR = 1 << 2
    RETAILER = 1 << 3
    CERTIFIER = 1 << 4
    AUDITOR = 1 << 5
    REPORTER = 1 << 6


class LotKind(IntEnum):
    NONE = 0
    RAW_MATERIAL = 1
    COMPONENT = 2
    PRODUCT = 3
    BUNDLE = 4


class SubjectKind(IntEnum):
    NONE = 0
    LOT = 1
    PARTICIPANT = 2


def ascii32(text: str) -> bytes:
    """A short ASCII name as bytes32 (certificate types, claim keys, anchor kinds)."""
    raw = text.encode("ascii")
    if len(raw) > 32:
        raise ValueError(f"{text!r} is longer than 32 bytes")
    return raw.ljust(32, b"\0")


def from_ascii32(value: bytes) -> str:
    return value.rstrip(b"\0").decode("ascii")


def canonical_json(document: Any) -> bytes:
    """A document's canonical JSON: sorted keys, no spaces, UTF-8, no NaN or infinity."""
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode()


def canonical_hash(document: dict[str, Any]) -> str:
    """keccak256 of a document's canonical JSON, 0x-hex.

    Off-chain metadata is stored as the document; the chain holds this hash of it.
    """
    return "0x" + keccak(canonical_json(document)).hex()
