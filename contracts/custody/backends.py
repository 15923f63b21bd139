"""Which key store holds a key, and how to open or create one.

A backend creates a signing key and returns a reference to store next to it, opens a key
store from such a reference, and does the same for the wrapping keys that protect personal
data (envelope encryption). Three backends: encrypted keystore files
(:class:`KeystoreFileBackend`), an HSM through PKCS#11 (:func:`pkcs11_backend`) and Azure
Key Vault or Managed HSM (:func:`keyvault_backend`), each built from plain setting values.

A :class:`BackendRegistry` names them: it maps a backend name to the dotted path of a
factory (read afresh on every lookup, so changed settings take effect after
:meth:`BackendRegistry.clear_caches`) and opens each key store once per process; the HSM and
Key Vault clients notice a fork themselves and log in again in the child. Callers only ever
see the KeyStore and KeyWrapper interfaces.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from contracts.custody.keystore import (
    KeyStore,
    KeystoreFile,
    KeyStoreUnavailable,
    KeyWrapper,
    WrappingKeyFile,
    derived_passphrase,
)


class KeyStoreBackend(Protocol):
    def create(self, *, label: str) -> tuple[str, KeyStore]:
        """Generate a key inside the store; returns (reference, key store)."""
        ...

    def open(self, reference: str) -> KeyStore: ...

    def create_wrapping_key(self, *, label: str) -> tuple[str, KeyWrapper]:
        """Generate a key-encryption key inside the store; returns (reference, wrapper)."""
        ...

    def open_wrapper(self, reference: str) -> KeyWrapper: ...


class KeystoreFileBackend:
    """Encrypted keystore files in one directory. Each file is encrypted under its own
    secret, derived from the master secret and the file's name; a file made when the master
    itself encrypted every file opens with the master once and is re-encrypted under its own
    secret on the spot."""

    def __init__(self, directory: Path, master: str, kdf_iterations: int) -> None:
        self.directory = directory
        self._master = master
        self.kdf_iterations = kdf_iterations

    def secret(self, reference: str) -> str:
        """The secret that opens one file (and no other)."""
        if not self._master:
            raise KeyStoreUnavailable("PROVENANT_KEYSTORE_PASSPHRASE is not set")
        return derived_passphrase(self._master, reference)

    def _path(self, reference: str) -> Path:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*\.json", reference, re.IGNORECASE):
            raise KeyStoreUnavailable(f"not a keystore file name: {reference!r}")
        return self.directory / reference

    def create(self, *, label: str) -> tuple[str, KeyStore]:
        reference = f"{label}.json"
        store = KeystoreFile.create(
            self._path(reference), self.secret(reference), kdf_iterations=self.kdf_iterations
        )
        return reference, store

    def import_key(self, *, label: str, private_key: bytes) -> tuple[str, KeyStore]:
        reference = f"{label}.json"
        store = KeystoreFile.import_key(
            self._path(reference),
            private_key,
            self.secret(reference),
            kdf_iterations=self.kdf_iterations,
        )
        return reference, store

    def open(self, reference: str) -> KeyStore:
        path = self._path(reference)
        return KeystoreFile(path, self.secret(reference), legacy_passphrase=self._master)

    def create_wrapping_key(self, *, label: str) -> tuple[str, KeyWrapper]:
        reference = f"{label}.kek.json"
        wrapper = WrappingKeyFile.create(
            self._path(reference), self.secret(reference), kdf_iterations=self.kdf_iterations
        )
        return reference, wrapper

    def open_wrapper(self, reference: str) -> KeyWrapper:
        path = self._path(reference)
        return WrappingKeyFile(path, self.secret(reference), legacy_passphrase=self._master)


def pkcs11_backend(*, library: str, token_label: str, user_pin: str) -> KeyStoreBackend:
    """Keys in the PKCS#11 token `token_label` of the module `library`."""
    # python-pkcs11 is imported only by deployments that use it.
    from contracts.custody.hsm import Pkcs11Backend, Pkcs11Config

    if not user_pin:
        raise KeyStoreUnavailable("PROVENANT_PKCS11_USER_PIN is not set")
    return Pkcs11Backend(Pkcs11Config(library=library, token_label=token_label, user_pin=user_pin))


def keyvault_backend(*, url: str, credential: str, ca_file: str, hsm: bool) -> KeyStoreBackend:
    """Keys in the Azure Key Vault (or Managed HSM, `hsm`) at `url`."""
    # The Azure SDK is imported only by deployments that use it.
    from contracts.custody.keyvault import KeyVaultBackend, KeyVaultConfig

    if not url:
        raise KeyStoreUnavailable("PROVENANT_KEY_VAULT_URL is not set")
    try:
        config = KeyVaultConfig.from_settings(
            url=url, credential=credential, ca_file=ca_file, hsm=hsm
        )
    except ValueError as exc:
        raise KeyStoreUnavailable(f"Key Vault settings: {exc}") from None
    return KeyVaultBackend(config)


def _import_factory(dotted_path: str) -> Callable[[], KeyStoreBackend]:
    """The factory at a dotted path; a path that names nothing is a configuration error
    (ImportError), not an outage."""
    module_name, _, name = dotted_path.rpartition(".")
    try:
        factory: Callable[[], KeyStoreBackend] = getattr(importlib.import_module(module_name), name)
    except AttributeError as exc:
        raise ImportError(f"{dotted_path!r} names no key-store backend factory") from exc
    return factory


class BackendRegistry:
    """Backend names -> factories, and the key stores opened through them, once per process.

    `factories` returns the current mapping of names to dotted factory paths (the web app
    passes its KEY_STORE_BACKENDS setting)."""

    def __init__(self, factories: Callable[[], Mapping[str, str]]) -> None:
        self._factories = factories
        self._lock = threading.Lock()
        self._stores: dict[tuple[str, str], KeyStore] = {}
        self._wrappers: dict[tuple[str, str], KeyWrapper] = {}

    def backend(self, name: str) -> KeyStoreBackend:
        """A new backend of the given name; KeyStoreUnavailable for an unknown name."""
        try:
            dotted_path = self._factories()[name]
        except KeyError:
            raise KeyStoreUnavailable(
                f"no key-store backend named {name!r} is configured"
            ) from None
        return _import_factory(dotted_path)()

    def open_key_store(self, backend_name: str, reference: str) -> KeyStore:
        """The process-wide key store for a reference: opened (and unlocked) once."""
        key = (backend_name, reference)
        store = self._stores.get(key)
        if store is None:
            # Opened outside the lock (an HSM login or a vault round trip is slow); when two
            # threads race, the first one stored is the one everybody keeps.
            opened = self.backend(backend_name).open(reference)
            with self._lock:
                store = self._stores.setdefault(key, opened)
        return store

    def open_wrapper(self, backend_name: str, reference: str) -> KeyWrapper:
        """The process-wide wrapping key for a reference."""
        key = (backend_name, reference)
        wrapper = self._wrappers.get(key)
        if wrapper is None:
            opened = self.backend(backend_name).open_wrapper(reference)
            with self._lock:
                wrapper = self._wrappers.setdefault(key, opened)
        return wrapper

    def clear_caches(self) -> None:
        """Forget opened key stores (after the settings behind them change)."""
        with self._lock:
            self._stores.clear()
            self._wrappers.clear()
