"""Node keys: the secp256k1 key a Besu node signs peer handshakes with (and, on a validator,
QBFT blocks). Its public half is the enode id; the address of that public key is the
validator's address. Files are written the way Besu writes them: `key` holds 0x + 64 hex,
`key.pub` 0x + 128 hex (what `besu public-key export` prints)."""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import coincurve
from eth_keys.datatypes import PrivateKey
from eth_utils.address import is_checksum_address
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
PUBLIC_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{128}$")
ENODE = re.compile(r"^enode://([0-9a-fA-F]{128})@([^:?]+|\[[0-9a-fA-F:]+\]):(\d+)(\?.*)?$")


class InvalidKey(ValueError):
    """A key, public key or address that cannot be used."""


def checked_address(value: str) -> str:
    """`value` as a lower-case 0x address; refuses a malformed one and a mixed-case one whose
    EIP-55 checksum is wrong (a typo in a hand-copied address)."""
    if not isinstance(value, str) or not ADDRESS.match(value):
        raise InvalidKey(f"{value!r} is not an address (0x and 40 hex digits)")
    digits = value[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(value):
        raise InvalidKey(f"{value} has a wrong EIP-55 checksum (mistyped?)")
    return value.lower()


def checked_public_key(value: str) -> str:
    """`value` as 128 lower-case hex digits of a point on secp256k1."""
    if not isinstance(value, str) or not PUBLIC_KEY.match(value):
        raise InvalidKey(f"{value!r} is not a public key (128 hex digits, uncompressed x||y)")
    raw = value.removeprefix("0x").lower()
    try:
        coincurve.PublicKey(b"\x04" + bytes.fromhex(raw))
    except ValueError:
        raise InvalidKey(f"0x{raw[:16]}... is not a point on secp256k1") from None
    return raw


def address_of(public_key: str) -> str:
    """The lower-case address of a public key (128 hex digits)."""
    return "0x" + keccak(bytes.fromhex(public_key))[-20:].hex()


def enode_url(public_key: str, host: str, port: int) -> str:
    literal = f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    return f"enode://{public_key}@{literal}:{port}"


def enode_identity(url: str) -> tuple[str, str, int]:
    """(public key, host, port) of an enode URL, ignoring a `?discport=` suffix, so that two
    spellings of one node compare equal."""
    match = ENODE.match(url.strip())
    if not match:
        raise InvalidKey(f"{url!r} is not an enode URL")
    return match[1].lower(), match[2].strip("[]"), int(match[3])


@dataclass(frozen=True)
class NodeKey:
    """A node key held in a file (`private` set) or elsewhere, e.g. an HSM (public half only)."""

    public_key: str
    private: bytes | None = None

    @classmethod
    def create(cls) -> NodeKey:
        while True:
            try:
                private = PrivateKey(secrets.token_bytes(32))
            except ValidationError:  # zero or >= the curve order: astronomically rare
                continue
            return cls(private.public_key.to_bytes().hex(), private.to_bytes())

    @classmethod
    def read(cls, path: Path) -> NodeKey:
        text = path.read_text().strip().removeprefix("0x")
        try:
            private = PrivateKey(bytes.fromhex(text))
        except (ValueError, ValidationError):
            raise InvalidKey(f"{path} does not hold a node key (0x and 64 hex digits)") from None
        return cls(private.public_key.to_bytes().hex(), private.to_bytes())

    @property
    def address(self) -> str:
        return address_of(self.public_key)

    def key_file_text(self) -> str:
        assert self.private is not None
        return "0x" + self.private.hex()

    def public_file_text(self) -> str:
        return "0x" + self.public_key
