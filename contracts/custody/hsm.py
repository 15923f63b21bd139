"""Keys in a hardware security module, through PKCS#11.

A signing key is a secp256k1 key pair generated *inside* the token: the private half is
`SENSITIVE` and not `EXTRACTABLE`, so no call returns it, and the app only ever asks the
token for an ECDSA signature over a transaction's 32-byte digest (`CKM_ECDSA`, no hashing
in the token). The raw (r, s) becomes an Ethereum signature here: s folded into the low
half of the curve order (EIP-2), v found by recovering against the key's address.

A wrapping key is an AES-256 key inside the token that encrypts the data keys protecting
personal data (AES-GCM in the token; the data key comes out encrypted, the wrapping key
never comes out).

Sessions: one logged-in session per process, opened on first use. PKCS#11 tokens allow one
login per application, and web and Celery workers fork after start-up, so the session
remembers the process that opened it; a forked child initialises the library again and
logs in on its own. Operations on the session are serialised by a lock (a PKCS#11 session
runs one operation at a time).

Tested with SoftHSM2 (Debian `softhsm2`); any PKCS#11 v2.20+ module with secp256k1 ECDSA
and AES-GCM works the same way. Some modules return the public `EC_POINT` DER-wrapped in
an OCTET STRING (SoftHSM does), others raw: both are read.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import pkcs11
from eth_keys.datatypes import PublicKey, Signature
from eth_typing import ChecksumAddress
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams
from pkcs11.util.ec import encode_named_curve_parameters

from contracts.custody.keystore import (
    DigestKeyStore,
    KeyStoreUnavailable,
    WrappedKeyInvalid,
    normalise_signature,
)

#: secp256k1's object identifier (SEC 2), the curve the EVM signs with.
SECP256K1_OID = "1.3.132.0.10"
#: Associated data bound into every wrapped data key.
WRAP_CONTEXT = b"provenant/data-key/v1"
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

T = TypeVar("T")

#: Errors that mean the token (or the module) is not usable right now; the session is
#: dropped and the next call logs in again.
_UNAVAILABLE: tuple[type[Exception], ...] = (
    p11.TokenNotPresent,
    p11.TokenNotRecognised,
    p11.DeviceRemoved,
    p11.DeviceError,
    p11.DeviceMemory,
    p11.SessionClosed,
    p11.SessionHandleInvalid,
    p11.UserNotLoggedIn,
    p11.PinIncorrect,
    p11.PinLocked,
    p11.PinExpired,
    p11.NoSuchToken,
    p11.FunctionFailed,
    p11.HostMemory,
    OSError,
)


@dataclass(frozen=True)
class Pkcs11Config:
    """Where the token is: the module (shared library), the token's label, the user PIN."""

    library: str
    token_label: str
    user_pin: str

    def __repr__(self) -> str:  # never print the PIN
        return f"Pkcs11Config(library={self.library!r}, token_label={self.token_label!r})"


class Pkcs11Token:
    """The process's one logged-in session on a token; use :meth:`for_config`."""

    _tokens: ClassVar[dict[Pkcs11Config, Pkcs11Token]] = {}
    _tokens_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, config: Pkcs11Config) -> None:
        self.config = config
        self._session: Any = None
        self._pid = 0
        self._lock = threading.RLock()

    @classmethod
    def for_config(cls, config: Pkcs11Config) -> Pkcs11Token:
        with cls._tokens_lock:
            token = cls._tokens.get(config)
            if token is None:
                token = cls._tokens[config] = cls(config)
            return token

    def _open(self) -> Any:
        """The logged-in session, opened (again) when missing or inherited across a fork."""
        if self._session is not None and self._pid == os.getpid():
            return self._session
        forked = self._session is not None
        self._session = None
        try:
            library = pkcs11.lib(self.config.library)
            if forked:
                library.reinitialize()  # a child must not use its parent's module state
            token = library.get_token(token_label=self.config.token_label)
            try:
                session = token.open(user_pin=self.config.user_pin, rw=True)
            except p11.UserAlreadyLoggedIn:
                session = token.open(rw=True)  # this process is logged in already
        except p11.NoSuchToken:
            raise KeyStoreUnavailable(
                f"no PKCS#11 token labelled {self.config.token_label!r} in {self.config.library}"
            ) from None
        except p11.PinIncorrect:
            raise KeyStoreUnavailable(
                f"the PIN for PKCS#11 token {self.config.token_label!r} is wrong"
            ) from None
        except (p11.PKCS11Error, OSError) as exc:
            raise KeyStoreUnavailable(
                f"PKCS#11 token {self.config.token_label!r} cannot be opened: "
                f"{type(exc).__name__} {exc}".strip()
            ) from None
        self._session, self._pid = session, os.getpid()
        return session

    def run(self, operation: Callable[[Any], T]) -> T:
        """Run `operation(session)` under the session lock; a token fault drops the session
        (the next call opens a new one) and raises :class:`KeyStoreUnavailable`."""
        with self._lock:
            session = self._open()
            try:
                return operation(session)
            except _UNAVAILABLE as exc:
                self._session = None
                raise KeyStoreUnavailable(
                    f"PKCS#11 token {self.config.token_label!r}: {type(exc).__name__} {exc}".strip()
                ) from None

    def close(self) -> None:
        with self._lock:
            if self._session is not None and self._pid == os.getpid():
                with contextlib.suppress(p11.PKCS11Error):
                    self._session.close()
            self._session = None


def _public_point(encoded: bytes) -> bytes:
    """64 bytes x‖y from a CKA_EC_POINT, raw (04‖x‖y) or DER-wrapped in an OCTET STRING."""
    if len(encoded) == 67 and encoded[:2] == b"\x04\x41":
        encoded = encoded[2:]
    if len(encoded) != 65 or encoded[0] != 4:
        raise KeyStoreUnavailable("the token's public key is not an uncompressed secp256k1 point")
    return encoded[1:]


def _checked_label(label: str) -> str:
    if not _LABEL.fullmatch(label):
        raise ValueError(f"not a key label: {label!r} (letters, digits, '.', '_', '-')")
    return label


class Pkcs11KeyStore(DigestKeyStore):
    """A secp256k1 signing key in a PKCS#11 token, found by its label."""

    backend = "pkcs11"

    def __init__(self, token: Pkcs11Token, label: str) -> None:
        self.token = token
        self.label = _checked_label(label)
        self._address: ChecksumAddress | None = None

    def _private_key(self, session: Any) -> Any:
        try:
            return session.get_key(
                object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC, label=self.label
            )
        except p11.NoSuchKey:
            raise KeyStoreUnavailable(
                f"no signing key {self.label!r} in PKCS#11 token {self.token.config.token_label!r}"
            ) from None

    @property
    def address(self) -> ChecksumAddress:
        if self._address is None:

            def read(session: Any) -> bytes:
                try:
                    public = session.get_key(
                        object_class=ObjectClass.PUBLIC_KEY, key_type=KeyType.EC, label=self.label
                    )
                except p11.NoSuchKey:
                    raise KeyStoreUnavailable(
                        f"no public key {self.label!r} in PKCS#11 token "
                        f"{self.token.config.token_label!r}"
                    ) from None
                return bytes(public[Attribute.EC_POINT])

            point = _public_point(self.token.run(read))
            self._address = PublicKey(point).to_checksum_address()
        return self._address

    def sign_digest(self, digest: bytes) -> Signature:
        if len(digest) != 32:
            raise ValueError(f"a digest is 32 bytes, got {len(digest)}")
        address = self.address

        def sign(session: Any) -> bytes:
            raw = self._private_key(session).sign(digest, mechanism=Mechanism.ECDSA)
            return bytes(raw)

        raw = self.token.run(sign)
        if len(raw) != 64:
            raise KeyStoreUnavailable(f"the token returned a {len(raw)}-byte ECDSA signature")
        return normalise_signature(
            digest, int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"), address
        )

    def __repr__(self) -> str:
        return f"Pkcs11KeyStore({self.token.config.token_label!r}, {self.label!r})"


class Pkcs11Wrapper:
    """An AES-256 key in the token that wraps data keys (AES-GCM inside the token)."""

    def __init__(self, token: Pkcs11Token, label: str) -> None:
        self.token = token
        self.label = _checked_label(label)

    @property
    def reference(self) -> str:
        return self.label

    def _key(self, session: Any) -> Any:
        try:
            return session.get_key(
                object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=self.label
            )
        except p11.NoSuchKey:
            raise KeyStoreUnavailable(
                f"no wrapping key {self.label!r} in PKCS#11 token {self.token.config.token_label!r}"
            ) from None

    def wrap(self, data_key: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        params = GCMParams(nonce, WRAP_CONTEXT, 128)

        def encrypt(session: Any) -> bytes:
            sealed = self._key(session).encrypt(
                data_key, mechanism=Mechanism.AES_GCM, mechanism_param=params
            )
            return bytes(sealed)

        return nonce + self.token.run(encrypt)

    def unwrap(self, wrapped: bytes) -> bytes:
        if len(wrapped) < 12 + 16:
            raise WrappedKeyInvalid("the wrapped data key is too short")
        params = GCMParams(wrapped[:12], WRAP_CONTEXT, 128)

        def decrypt(session: Any) -> bytes:
            key = self._key(session)
            try:
                opened = key.decrypt(
                    wrapped[12:], mechanism=Mechanism.AES_GCM, mechanism_param=params
                )
            except (p11.EncryptedDataInvalid, p11.EncryptedDataLenRange, p11.GeneralError):
                # SoftHSM reports a failed GCM tag check as CKR_GENERAL_ERROR.
                raise WrappedKeyInvalid(
                    f"wrapping key {self.label!r} does not open this data key"
                ) from None
            return bytes(opened)

        return self.token.run(decrypt)


class Pkcs11Backend:
    """Creates and opens keys in one token (`create`/`open` for signing keys,
    `create_wrapping_key`/`open_wrapper` for data-key wrapping keys)."""

    def __init__(self, config: Pkcs11Config) -> None:
        self.config = config
        self.token = Pkcs11Token.for_config(config)

    def _refuse_existing(self, session: Any, label: str, object_class: ObjectClass) -> None:
        if list(session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: label})):
            raise ValueError(
                f"PKCS#11 token {self.config.token_label!r} already holds a key {label!r}"
            )

    def create(self, *, label: str) -> tuple[str, Pkcs11KeyStore]:
        label = _checked_label(label)

        def generate(session: Any) -> None:
            self._refuse_existing(session, label, ObjectClass.PRIVATE_KEY)
            parameters = session.create_domain_parameters(
                KeyType.EC,
                {Attribute.EC_PARAMS: encode_named_curve_parameters(SECP256K1_OID)},
                local=True,
            )
            parameters.generate_keypair(
                store=True,
                label=label,
                id=label.encode(),
                public_template={Attribute.VERIFY: True},
                private_template={
                    Attribute.SIGN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                },
            )

        self.token.run(generate)
        return label, Pkcs11KeyStore(self.token, label)

    def open(self, reference: str) -> Pkcs11KeyStore:
        try:
            return Pkcs11KeyStore(self.token, reference)
        except ValueError as exc:
            raise KeyStoreUnavailable(str(exc)) from None

    def create_wrapping_key(self, *, label: str) -> tuple[str, Pkcs11Wrapper]:
        label = _checked_label(label)

        def generate(session: Any) -> None:
            self._refuse_existing(session, label, ObjectClass.SECRET_KEY)
            session.generate_key(
                KeyType.AES,
                256,
                label=label,
                id=label.encode(),
                store=True,
                template={
                    Attribute.ENCRYPT: True,
                    Attribute.DECRYPT: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                },
            )

        self.token.run(generate)
        return label, Pkcs11Wrapper(self.token, label)

    def open_wrapper(self, reference: str) -> Pkcs11Wrapper:
        try:
            return Pkcs11Wrapper(self.token, reference)
        except ValueError as exc:
            raise KeyStoreUnavailable(str(exc)) from None
