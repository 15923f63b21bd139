"""Which key store holds an organisation's key, and how to open or create one.

Backends are named in settings.KEY_STORE_BACKENDS (name -> dotted path of a backend
factory): "keystore" (encrypted files, the default), "pkcs11" (an HSM) and "keyvault"
(Azure Key Vault or Managed HSM). A backend creates a signing key and returns a reference
to store on the organisation, opens a key store from such a reference, and does the same
for the wrapping keys that protect personal data (envelope encryption). Callers only ever
see the KeyStore and KeyWrapper interfaces.

Key stores are opened once per process and cached; the HSM and Key Vault clients notice a
fork themselves and log in again in the child.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from contracts.custody.keystore import (
    KeyStore,
    KeystoreFile,
    KeyStoreUnavailable,
    KeyWrapper,
    WrappingKeyFile,
    derived_passphrase,
)
from webapp.organisations.models import Organisation, OrganisationKey


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
    """Encrypted keystore files in settings.KEYSTORE_DIR. Each file is encrypted under its
    own secret, derived from the master secret (settings.KEYSTORE_PASSPHRASE) and the file's
    name; a file made when the master itself encrypted every file opens with the master
    once and is re-encrypted under its own secret on the spot."""

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


def keystore_file_backend() -> KeystoreFileBackend:
    return KeystoreFileBackend(
        Path(settings.KEYSTORE_DIR), settings.KEYSTORE_PASSPHRASE, settings.KEYSTORE_KDF_ITERATIONS
    )


def pkcs11_backend() -> KeyStoreBackend:
    from contracts.custody.hsm import Pkcs11Backend, Pkcs11Config

    if not settings.PKCS11_USER_PIN:
        raise KeyStoreUnavailable("PROVENANT_PKCS11_USER_PIN is not set")
    return Pkcs11Backend(
        Pkcs11Config(
            library=settings.PKCS11_LIBRARY,
            token_label=settings.PKCS11_TOKEN_LABEL,
            user_pin=settings.PKCS11_USER_PIN,
        )
    )


def keyvault_backend() -> KeyStoreBackend:
    from contracts.custody.keyvault import KeyVaultBackend, KeyVaultConfig

    if not settings.AZURE_KEY_VAULT_URL:
        raise KeyStoreUnavailable("PROVENANT_KEY_VAULT_URL is not set")
    try:
        config = KeyVaultConfig.from_settings(
            url=settings.AZURE_KEY_VAULT_URL,
            credential=settings.AZURE_KEY_VAULT_CREDENTIAL,
            ca_file=settings.AZURE_KEY_VAULT_CA_FILE,
            hsm=settings.AZURE_KEY_VAULT_HSM,
        )
    except ValueError as exc:
        raise KeyStoreUnavailable(f"Key Vault settings: {exc}") from None
    return KeyVaultBackend(config)


def backend(name: str) -> KeyStoreBackend:
    try:
        factory = import_string(settings.KEY_STORE_BACKENDS[name])
    except KeyError:
        raise KeyStoreUnavailable(f"no key-store backend named {name!r} is configured") from None
    made: KeyStoreBackend = factory()
    return made


@functools.cache
def open_key_store(backend_name: str, reference: str) -> KeyStore:
    """The process-wide key store for a reference: opened (and unlocked) once per process."""
    return backend(backend_name).open(reference)


@functools.cache
def open_wrapper(backend_name: str, reference: str) -> KeyWrapper:
    """The process-wide wrapping key for a reference."""
    return backend(backend_name).open_wrapper(reference)


def clear_caches() -> None:
    """Forget opened key stores (after the settings behind them change)."""
    open_key_store.cache_clear()
    open_wrapper.cache_clear()


def signing_key(organisation: Organisation, address: str) -> KeyStore:
    """The key store of one of the organisation's addresses, from its key history: the
    current key, or a key it is rotating in or out (an operation queued under an address
    is signed by that address's key). `Organisation.key_backend` only says where the
    *next* key is made, so changing it never touches the keys already in use."""
    key = OrganisationKey.objects.filter(organisation=organisation, address__iexact=address).first()
    if key is None:
        raise KeyStoreUnavailable(f"{organisation.name} has no key for {address}")
    return open_key_store(key.backend, key.reference)
