"""Key stores: where an organisation's signing key lives, and the one way to use it.

A key store answers three questions and nothing else: its address, a signature over a
32-byte digest, and a signed raw transaction. Callers (the transaction submitter, the demo
seed) never see key material and never learn which backend they hold, so an HSM or a cloud
vault plugs in by implementing :meth:`DigestKeyStore.sign_digest` alone.

The default backend is an eth-account keystore file (scrypt-encrypted JSON) whose
passphrase comes from the settings; the key is decrypted on first use and kept in the
process, never written anywhere else.
"""

from __future__ import annotations

import json
import os
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from eth_account import Account
from eth_account._utils.signing import sign_transaction_dict
from eth_keys.datatypes import PrivateKey, Signature
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

#: secp256k1 group order; a signature with s above half of it is malleable (EIP-2).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class KeyStoreUnavailable(RuntimeError):
    """The key store cannot sign right now (missing file, wrong passphrase, HSM or vault
    down). Nothing was signed; the caller keeps its work queued and tries again."""


@runtime_checkable
class KeyStore(Protocol):
    """An organisation's signing key, wherever it lives."""

    @property
    def address(self) -> ChecksumAddress: ...

    def sign_digest(self, digest: bytes) -> Signature:
        """Sign a 32-byte digest: low s (EIP-2), v in {0, 1}."""
        ...

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        """Sign a transaction dict and return the raw signed transaction."""
        ...


@runtime_checkable
class KeyWrapper(Protocol):
    """A key-encryption key that never leaves its key store: it wraps the data keys that
    encrypt personal data (envelope encryption) and unwraps them on demand.

    `wrap` returns an opaque blob only the same wrapping key can `unwrap`; a failure to
    reach the store raises :class:`KeyStoreUnavailable`, a blob this key did not wrap (or
    one that was altered) raises :class:`WrappedKeyInvalid`.
    """

    @property
    def reference(self) -> str: ...

    def wrap(self, data_key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...


class WrappedKeyInvalid(ValueError):
    """A wrapped data key that the wrapping key does not open (altered, or not its own)."""


class DigestKeyStore(ABC):
    """Base for key stores that can only sign digests (every real backend): it builds the
    transaction's signing hash, asks for a signature and encodes the raw transaction."""

    @property
    @abstractmethod
    def address(self) -> ChecksumAddress: ...

    @abstractmethod
    def sign_digest(self, digest: bytes) -> Signature: ...

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        fields = {k: v for k, v in tx.items() if k != "from"}
        if "from" in tx and to_checksum_address(tx["from"]) != self.address:
            raise ValueError(f"transaction is from {tx['from']}, this key is {self.address}")
        _, _, _, raw = sign_transaction_dict(_DigestAdapter(self), fields)  # type: ignore[arg-type]
        return bytes(raw)


class _DigestAdapter:
    """What eth-account's transaction signer expects of a key: `sign_msg_hash`."""

    def __init__(self, store: DigestKeyStore) -> None:
        self._store = store

    def sign_msg_hash(self, digest: bytes) -> Signature:
        return self._store.sign_digest(digest)


def normalise_signature(digest: bytes, r: int, s: int, address: str) -> Signature:
    """Turn a raw ECDSA (r, s) into an Ethereum signature: s folded into the low half of
    the curve order (EIP-2), v found by recovering the signer and comparing addresses."""
    if s > SECP256K1_N // 2:
        s = SECP256K1_N - s
    expected = to_checksum_address(address)
    for v in (0, 1):
        candidate = Signature(vrs=(v, r, s))
        try:
            recovered = candidate.recover_public_key_from_msg_hash(digest)
        except Exception:  # an (r, v) pair with no point on the curve
            continue
        if recovered.to_checksum_address() == expected:
            return candidate
    raise ValueError("the signature does not recover to the key's address")


class KeystoreFile(DigestKeyStore):
    """An eth-account keystore file (scrypt + AES-128-CTR JSON, version 3)."""

    backend = "keystore"

    def __init__(self, path: Path, passphrase: str) -> None:
        self.path = Path(path)
        self._passphrase = passphrase
        self._key: PrivateKey | None = None
        self._lock = threading.Lock()
        self._address: ChecksumAddress | None = None

    @classmethod
    def create(cls, path: Path, passphrase: str, *, kdf_iterations: int = 262_144) -> KeystoreFile:
        """Generate a new key straight into an encrypted file (refuses to overwrite one)."""
        return cls.import_key(path, Account.create().key, passphrase, kdf_iterations=kdf_iterations)

    @classmethod
    def import_key(
        cls, path: Path, private_key: bytes, passphrase: str, *, kdf_iterations: int = 262_144
    ) -> KeystoreFile:
        if not passphrase:
            raise ValueError("a keystore file needs a passphrase")
        document = Account.encrypt(private_key, passphrase, kdf="scrypt", iterations=kdf_iterations)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(document, fh)
        return cls(path, passphrase)

    def _document(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.path.read_text()))
        except FileNotFoundError:
            raise KeyStoreUnavailable(f"keystore file {self.path} is missing") from None
        except (OSError, ValueError) as exc:
            raise KeyStoreUnavailable(f"keystore file {self.path} cannot be read: {exc}") from None

    @property
    def address(self) -> ChecksumAddress:
        if self._address is None:
            raw = str(self._document()["address"]).removeprefix("0x")
            self._address = to_checksum_address("0x" + raw)
        return self._address

    def _private_key(self) -> PrivateKey:
        with self._lock:
            if self._key is None:
                try:
                    raw = Account.decrypt(self._document(), self._passphrase)
                except ValueError:
                    raise KeyStoreUnavailable(
                        f"keystore file {self.path}: the configured passphrase does not open it"
                    ) from None
                self._key = PrivateKey(bytes(raw))
            return self._key

    def sign_digest(self, digest: bytes) -> Signature:
        if len(digest) != 32:
            raise ValueError(f"a digest is 32 bytes, got {len(digest)}")
        signature: Signature = self._private_key().sign_msg_hash(digest)
        return signature  # eth-keys signs low-s already

    def __repr__(self) -> str:
        return f"KeystoreFile({str(self.path)!r})"


class WrappingKeyFile:
    """A local wrapping key for data keys: 32 random bytes in a file, sealed with AES-GCM
    under a key derived from the keystore passphrase (scrypt). Data keys are wrapped with
    AES key wrap (RFC 3394), which also detects a blob this key did not wrap."""

    def __init__(self, path: Path, passphrase: str) -> None:
        self.path = Path(path)
        self._passphrase = passphrase
        self._key: bytes | None = None
        self._lock = threading.Lock()

    @property
    def reference(self) -> str:
        return self.path.name

    @staticmethod
    def _kdf(passphrase: str, salt: bytes, n: int) -> bytes:
        return Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(passphrase.encode())

    @classmethod
    def create(
        cls, path: Path, passphrase: str, *, kdf_iterations: int = 262_144
    ) -> WrappingKeyFile:
        if not passphrase:
            raise ValueError("a wrapping key file needs a passphrase")
        n = 1 << max(1, kdf_iterations.bit_length() - 1)  # scrypt wants a power of two
        salt, nonce = os.urandom(16), os.urandom(12)
        sealed = AESGCM(cls._kdf(passphrase, salt, n)).encrypt(nonce, os.urandom(32), b"kek")
        document = {
            "version": 1,
            "kdf": "scrypt",
            "n": n,
            "salt": salt.hex(),
            "nonce": nonce.hex(),
            "sealed": sealed.hex(),
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(document, fh)
        return cls(path, passphrase)

    def _kek(self) -> bytes:
        with self._lock:
            if self._key is None:
                try:
                    document = json.loads(self.path.read_text())
                    kdf = self._kdf(
                        self._passphrase, bytes.fromhex(document["salt"]), int(document["n"])
                    )
                    self._key = AESGCM(kdf).decrypt(
                        bytes.fromhex(document["nonce"]), bytes.fromhex(document["sealed"]), b"kek"
                    )
                except FileNotFoundError:
                    raise KeyStoreUnavailable(f"wrapping key file {self.path} is missing") from None
                except (OSError, ValueError, KeyError) as exc:
                    raise KeyStoreUnavailable(
                        f"wrapping key file {self.path} cannot be read: {exc}"
                    ) from None
                except Exception:  # cryptography's InvalidTag: the wrong passphrase
                    raise KeyStoreUnavailable(
                        f"wrapping key file {self.path}: the configured passphrase does not open it"
                    ) from None
            return self._key

    def wrap(self, data_key: bytes) -> bytes:
        return aes_key_wrap(self._kek(), data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return aes_key_unwrap(self._kek(), wrapped)
        except (InvalidUnwrap, ValueError):
            raise WrappedKeyInvalid(
                f"wrapping key {self.reference!r} does not open this data key"
            ) from None
