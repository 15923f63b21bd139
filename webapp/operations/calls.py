"""The contract call an operation sends, as a value checked against the contract's ABI.

A call is built once, where the write is decided (a lot service, a certificate service),
and refused there if it could never become a transaction: an unknown function, the wrong
number of arguments, or a value its ABI type cannot hold (a uint256 beyond 2^256 - 1, an
address that is not one, a date before 1970 for a uint40). The operation's JSON column
holds it as ``{"contract", "function", "args"}``; only `as_json` and `from_json` know that.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from eth_abi.codec import ABICodec
from eth_utils.address import is_checksum_address
from eth_utils.conversions import to_bytes
from eth_utils.hexadecimal import is_hexstr
from web3._utils.abi import build_strict_registry

from contracts.chain.artifacts import SYSTEM_CONTRACTS, abi_type, load


class Unencodable(ValueError):
    """A contract call that cannot be turned into a transaction (a value out of its type's
    range, a wrong argument): no retry will change that."""


@functools.cache
def _codec() -> ABICodec:
    # web3's own strict codec (bytes32 exactly 32 bytes, no silent padding): what passes
    # here is what the submitter's web3 encodes.
    return ABICodec(build_strict_registry())


@functools.cache
def _functions(contract: str) -> dict[str, tuple[dict[str, Any], ...]]:
    """The contract's functions by name (each overload's inputs)."""
    functions: dict[str, list[dict[str, Any]]] = {}
    for item in load(contract).abi:
        if item.get("type") == "function":
            functions.setdefault(str(item["name"]), []).append(item)
    return {name: tuple(overloads) for name, overloads in functions.items()}


def _frozen(value: Any) -> Any:
    """Lists (arrays, tuples of the ABI) as tuples, so a call is immutable throughout."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _thawed(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thawed(v) for v in value]
    return value


def _normalised(kind: str, value: Any) -> Any:
    """`value` in the form eth_abi encodes for `kind`: hex text for bytes, tuples walked.

    The same conversions web3 applies before encoding (an address as text, bytes as 0x
    hex), so a call that passes here encodes in the submitter too.
    """
    if kind.endswith("]"):
        if not isinstance(value, tuple | list):
            return value
        return [_normalised(kind[: kind.rindex("[")], v) for v in value]
    if kind.startswith("("):
        if not isinstance(value, tuple | list):
            return value
        parts = _components(kind[1:-1])
        if len(parts) != len(value):
            return value
        return tuple(_normalised(p, v) for p, v in zip(parts, value, strict=True))
    if kind.startswith("bytes") and isinstance(value, str) and is_hexstr(value):
        return to_bytes(hexstr=value)
    return value


def _components(inner: str) -> list[str]:
    """The component types of a tuple type's inside ("uint256,(bytes32,uint8)[]")."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(inner):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    return parts


def _fits(kind: str, value: Any) -> bool:
    if kind == "address":
        # As web3 takes them: checksummed hex text (what the organisations hold).
        return isinstance(value, str) and is_checksum_address(value)
    return bool(_codec().is_encodable(kind, _normalised(kind, value)))


def _refused(detail: str) -> str:
    return f"the request cannot be sent to the chain: {detail}"


def _shown(value: Any) -> str:
    text = repr(_thawed(value))
    return text if len(text) <= 80 else text[:80] + "…"


@dataclass(frozen=True)
class ContractCall:
    """One call of a system contract's function; constructing it checks it against the
    ABI and raises Unencodable, naming the argument, when it does not fit."""

    contract: str
    function: str
    args: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", _frozen(self.args))
        if self.contract not in SYSTEM_CONTRACTS:
            raise Unencodable(_refused(f"{self.contract} is not a system contract"))
        overloads = _functions(self.contract).get(self.function)
        if not overloads:
            raise Unencodable(_refused(f"{self.contract} has no function {self.function!r}"))
        inputs = next((o["inputs"] for o in overloads if len(o["inputs"]) == len(self.args)), None)
        if inputs is None:
            expected = " or ".join(str(len(o["inputs"])) for o in overloads)
            raise Unencodable(
                _refused(
                    f"{self.contract}.{self.function} takes {expected} arguments,"
                    f" {len(self.args)} given"
                )
            )
        for position, (item, value) in enumerate(zip(inputs, self.args, strict=True), 1):
            kind = abi_type(item)
            if not _fits(kind, value):
                name = item.get("name") or f"#{position}"
                raise Unencodable(
                    _refused(
                        "a value does not fit the contract's types"
                        f" ({self.contract}.{self.function} argument {name} is {kind},"
                        f" {_shown(value)} is not)"
                    )
                )

    def as_json(self) -> dict[str, Any]:
        """The form the operation's `call` column holds."""
        return {"contract": self.contract, "function": self.function, "args": _thawed(self.args)}

    @classmethod
    def from_json(cls, stored: Any) -> ContractCall:
        """The call an operation's `call` column holds, checked again (a row written
        before the checks, or for an older ABI, is refused as Unencodable)."""
        try:
            return cls(
                contract=str(stored["contract"]),
                function=str(stored["function"]),
                args=tuple(stored["args"]),
            )
        except (KeyError, TypeError) as exc:
            raise Unencodable(
                _refused(f"the stored call is not a contract call: {_shown(stored)}")
            ) from exc
