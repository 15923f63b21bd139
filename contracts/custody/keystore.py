"""Key stores: where an organisation's signing key lives, and the one way to use it.

A key store answers three questions and nothing else: its address, a signature over a
32-byte digest, and a signed raw transaction. Callers (the transaction submitter, the demo
seed) never see key material and never learn which backend they hold, so an HSM or a cloud
vault plugs in by implementing :meth:`DigestKeyStore.sign_digest` alone.

The default backend is an eth-account keystore file (scrypt-encrypted JSON). Each file is
encrypted under its own secret, derived from a master secret in the settings and the file's
key id (:func:`derived_passphrase`), so a secret that leaks with one file opens that file
only; the master is never written anywhere. The key is decrypted on first use and kept in
the process, never written anywhere else.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from eth_account import Account
from eth_account._utils.signing import sign_transaction_dict
from eth_keys.datatypes import PrivateKey, Signature
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

#: secp256k1 group order; a signature with s above half of it is malleable (EIP-2).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


log = logging.getLogger(__name__)

#: HKDF salt of the per-key secrets (version it if the derivation ever changes).
_DERIVATION_SALT = b"provenant/keystore-secret/v1"


def derived_passphrase(master: str, key_id: str) -> str:
    """The secret one keystore (or wrapping-key) file is encrypted under: HKDF-SHA256 of
    the master secret, with the key's id as context. It opens that file and no other, and
    the master cannot be recovered from it."""
    if not master:
        raise ValueError("the master secret is empty")
    if not key_id:
        raise ValueError("a derived secret needs a key id")
    okm = HKDF(algorithm=SHA256(), length=32, salt=_DERIVATION_SALT, info=key_id.encode())
    return okm.derive(master.encode()).hex()


def _replace_file(path: Path, document: dict[str, Any]) -> None:
    """Write a key file anew, atomically: a reader sees the old file or the new, whole.
    A failure (a read-only directory) leaves the old file and is only logged: the key was
    opened, and the next start tries again."""
    try:
        _write_atomically(path, document)
    except OSError as exc:
        log.warning("key file %s stays under its old secret: %s", path, exc)


def _write_atomically(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(document, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


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
    """An eth-account keystore file (scrypt + AES-128-CTR JSON, version 3).

    With a `legacy_passphrase`, a file that `passphrase` does not open but the legacy one
    does (one made before per-key secrets) is opened and re-encrypted under `passphrase`,
    in place: from then on only `passphrase` opens it."""

    backend = "keystore"

    def __init__(self, path: Path, passphrase: str, *, legacy_passphrase: str = "") -> None:
        self.path = Path(path)
        self._passphrase = passphrase
        self._legacy_passphrase = legacy_passphrase
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
                document = self._document()
                try:
                    raw = bytes(Account.decrypt(document, self._passphrase))
                except ValueError:
                    raw = self._open_legacy(document)
                self._key = PrivateKey(bytes(raw))
            return self._key

    def _open_legacy(self, document: dict[str, Any]) -> bytes:
        refused = KeyStoreUnavailable(
            f"keystore file {self.path}: the configured passphrase does not open it"
        )
        if not self._legacy_passphrase or not self._passphrase:
            raise refused
        try:
            raw = bytes(Account.decrypt(document, self._legacy_passphrase))
        except ValueError:
            raise refused from None
        params = document.get("crypto", {}).get("kdfparams", {})
        iterations = int(params.get("n", 262_144))
        migrated = Account.encrypt(raw, self._passphrase, kdf="scrypt", iterations=iterations)
        _replace_file(self.path, dict(migrated))
        return raw

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

    def __init__(self, path: Path, passphrase: str, *, legacy_passphrase: str = "") -> None:
        self.path = Path(path)
        self._passphrase = passphrase
        self._legacy_passphrase = legacy_passphrase
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
        document = cls._seal(os.urandom(32), passphrase, n)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(document, fh)
        return cls(path, passphrase)

    @classmethod
    def _seal(cls, kek: bytes, passphrase: str, n: int) -> dict[str, Any]:
        salt, nonce = os.urandom(16), os.urandom(12)
        sealed = AESGCM(cls._kdf(passphrase, salt, n)).encrypt(nonce, kek, b"kek")
        return {
            "version": 1,
            "kdf": "scrypt",
            "n": n,
            "salt": salt.hex(),
            "nonce": nonce.hex(),
            "sealed": sealed.hex(),
        }

    @classmethod
    def _unseal(cls, document: dict[str, Any], passphrase: str) -> bytes:
        kdf = cls._kdf(passphrase, bytes.fromhex(document["salt"]), int(document["n"]))
        return AESGCM(kdf).decrypt(
            bytes.fromhex(document["nonce"]), bytes.fromhex(document["sealed"]), b"kek"
        )

    def _unseal_or_migrate(self, document: dict[str, Any]) -> bytes:
        """Open with the passphrase; failing that, with the legacy passphrase, and then
        seal the file again under the passphrase (see KeystoreFile)."""
        try:
            return self._unseal(document, self._passphrase)
        except InvalidTag:
            if not self._legacy_passphrase or not self._passphrase:
                raise
        kek = self._unseal(document, self._legacy_passphrase)
        _replace_file(self.path, self._seal(kek, self._passphrase, int(document["n"])))
        return kek

    def _kek(self) -> bytes:
        with self._lock:
            if self._key is None:
                try:
                    self._key = self._unseal_or_migrate(json.loads(self.path.read_text()))
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
