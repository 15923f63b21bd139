"""Readable revert reasons: Solidity custom errors decoded from raw revert data.

Nodes hand back a revert as raw bytes (a 4-byte selector and ABI-encoded arguments). This
module knows every custom error of every artifact, so ``LotQuarantined(uint256)`` with 42
becomes ``LotQuarantined(lotId=42)`` instead of a hex string.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from contracts.chain.artifacts import SYSTEM_CONTRACTS, abi_type, load

_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


@dataclass(frozen=True)
class ErrorSpec:
    name: str
    names: tuple[str, ...]
    types: tuple[str, ...]


@dataclass(frozen=True)
class DecodedError:
    """A decoded revert: the error's name and its named arguments."""

    name: str
    args: dict[str, Any]

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={_show(v)}" for k, v in self.args.items())
        return f"{self.name}({inner})"


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        text = value.rstrip(b"\0")
        if text and all(32 <= b < 127 for b in text):
            return repr(text.decode())
        return "0x" + value.hex()
    return str(value)


@functools.cache
def error_index() -> dict[bytes, ErrorSpec]:
    """Every custom error of the system's contracts, by 4-byte selector."""
    index: dict[bytes, ErrorSpec] = {}
    for name in SYSTEM_CONTRACTS:
        for item in load(name).abi:
            if item["type"] != "error":
                continue
            types = tuple(abi_type(i) for i in item["inputs"])
            selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
            index[selector] = ErrorSpec(
                item["name"],
                tuple(i["name"] or f"arg{n}" for n, i in enumerate(item["inputs"])),
                types,
            )
    return index


def decode_revert(data: bytes | str | None) -> DecodedError | None:
    """Decode revert data; None when there is none (e.g. out of gas, or a bare revert())."""
    if data is None:
        return None
    if isinstance(data, str):
        data = bytes.fromhex(data.removeprefix("0x"))
    if len(data) < 4:
        return None
    selector, body = data[:4], data[4:]
    if selector == _ERROR_STRING:
        return DecodedError("Error", {"message": decode(["string"], body)[0]})
    if selector == _PANIC:
        return DecodedError("Panic", {"code": hex(decode(["uint256"], body)[0])})
    spec = error_index().get(selector)
    if spec is None:
        return DecodedError("UnknownError", {"data": "0x" + data.hex()})
    values = decode(list(spec.types), body)
    args = {
        n: to_checksum_address(v) if t == "address" else v
        for n, t, v in zip(spec.names, spec.types, values, strict=True)
    }
    return DecodedError(spec.name, args)
