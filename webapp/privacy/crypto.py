"""The cryptography of personal data, with no database and no key store in sight.

Each data subject has its own 256-bit data key. A personal field is sealed with AES-256-GCM
under that key, with the subject id and the field name as associated data, so a sealed
value cannot be moved to another subject or field. What is sealed is a random salt and the
value; the salted commitment keccak256(salt ‖ value) is what may leave the database (lot
metadata whose hash goes on chain). Once the key is destroyed the salt is gone with the
value, so the commitment cannot be brute-forced back to a name or an e-mail address.

A retention period puts its own key over the subject's wrapped key (a second layer of
AES-256-GCM): destroying the period key makes every subject of the period unreadable at
once, whatever happens to the subjects' own keys.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_utils.crypto import keccak

NONCE_BYTES = 12
KEY_BYTES = 32


class Unreadable(ValueError):
    """The sealed value does not open under this key (wrong key, subject or field, or
    altered bytes)."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _aad(subject_id: str, field: str) -> bytes:
    return f"provenant/personal/v1\x00{subject_id}\x00{field}".encode()


def commitment(salt: bytes, value: str) -> str:
    """The salted hash that stands for a personal value outside the encrypted store."""
    return "0x" + keccak(salt + value.encode()).hex()


@dataclass(frozen=True)
class Sealed:
    ciphertext: bytes  # nonce ‖ AES-GCM(salt, value) ‖ tag
    commitment: str


def seal(key: bytes, subject_id: str, field: str, value: str) -> Sealed:
    salt = os.urandom(16)
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps({"salt": salt.hex(), "value": value}).encode()
    ciphertext = nonce + AESGCM(key).encrypt(nonce, plaintext, _aad(subject_id, field))
    return Sealed(ciphertext, commitment(salt, value))


def _open(key: bytes, subject_id: str, field: str, ciphertext: bytes) -> tuple[bytes, str]:
    nonce, body = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
    try:
        plaintext = AESGCM(key).decrypt(nonce, body, _aad(subject_id, field))
    except (InvalidTag, ValueError):
        raise Unreadable(f"the sealed {field!r} does not open under this key") from None
    opened = json.loads(plaintext)
    return bytes.fromhex(opened["salt"]), str(opened["value"])


def unseal(key: bytes, subject_id: str, field: str, ciphertext: bytes, expect: str) -> str:
    """Open a value and check it against the commitment recorded for it."""
    salt, value = _open(key, subject_id, field, ciphertext)
    if commitment(salt, value) != expect:
        raise Unreadable(f"the sealed {field!r} does not match its commitment")
    return value


def layer(key: bytes, subject_id: str, inner: bytes) -> bytes:
    """The retention period's layer over a subject's wrapped key."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, inner, _aad(subject_id, "subject-key"))


def unlayer(key: bytes, subject_id: str, outer: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(
            outer[:NONCE_BYTES], outer[NONCE_BYTES:], _aad(subject_id, "subject-key")
        )
    except (InvalidTag, ValueError):
        raise Unreadable("the period key does not open this subject's key") from None
