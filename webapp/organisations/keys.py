"""Which key store holds an organisation's key, and how to open or create one.

Backends are named in settings.KEY_STORE_BACKENDS (name -> dotted path of a backend
factory). A backend creates a key and returns a reference to store on the organisation,
and opens a key store from such a reference. Callers only ever see the KeyStore interface.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from contracts.keystore import KeyStore, KeystoreFile, KeyStoreUnavailable


class KeyStoreBackend(Protocol):
    def create(self, *, label: str) -> tuple[str, KeyStore]:
        """Generate a key inside the store; returns (reference, key store)."""
        ...

    def open(self, reference: str) -> KeyStore: ...


class KeystoreFileBackend:
    """Encrypted keystore files in settings.KEYSTORE_DIR, one passphrase from settings."""

    def __init__(self, directory: Path, passphrase: str, kdf_iterations: int) -> None:
        self.directory = directory
        self.passphrase = passphrase
        self.kdf_iterations = kdf_iterations

    def _path(self, reference: str) -> Path:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*\.json", reference):
            raise KeyStoreUnavailable(f"not a keystore file name: {reference!r}")
        return self.directory / reference

    def create(self, *, label: str) -> tuple[str, KeyStore]:
        reference = f"{label}.json"
        store = KeystoreFile.create(
            self._path(reference), self.passphrase, kdf_iterations=self.kdf_iterations
        )
        return reference, store

    def import_key(self, *, label: str, private_key: bytes) -> tuple[str, KeyStore]:
        reference = f"{label}.json"
        store = KeystoreFile.import_key(
            self._path(reference), private_key, self.passphrase, kdf_iterations=self.kdf_iterations
        )
        return reference, store

    def open(self, reference: str) -> KeyStore:
        return KeystoreFile(self._path(reference), self.passphrase)


def keystore_file_backend() -> KeystoreFileBackend:
    return KeystoreFileBackend(
        Path(settings.KEYSTORE_DIR), settings.KEYSTORE_PASSPHRASE, settings.KEYSTORE_KDF_ITERATIONS
    )


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
