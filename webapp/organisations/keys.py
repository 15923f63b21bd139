"""The web app's key-store backends: contracts.custody's, built from the Django settings,
and the key an organisation signs with, from its key history.

Backends are named in settings.KEY_STORE_BACKENDS (name -> dotted path of a backend
factory): "keystore" (encrypted files, the default), "pkcs11" (an HSM) and "keyvault"
(Azure Key Vault or Managed HSM); see :mod:`contracts.custody.backends`. Key stores are
opened once per process and cached; :func:`clear_caches` forgets them.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from contracts.custody.backends import (
    BackendRegistry,
    KeyStoreBackend,
    KeystoreFileBackend,
)
from contracts.custody.backends import (
    keyvault_backend as keyvault_backend_from,
)
from contracts.custody.backends import (
    pkcs11_backend as pkcs11_backend_from,
)
from contracts.custody.keystore import KeyStore, KeyStoreUnavailable, KeyWrapper
from webapp.organisations.models import Organisation, OrganisationKey
from webapp.organisations.resting import key_stores_rested

registry = BackendRegistry(lambda: settings.KEY_STORE_BACKENDS)


def keystore_file_backend() -> KeystoreFileBackend:
    return KeystoreFileBackend(
        Path(settings.KEYSTORE_DIR), settings.KEYSTORE_PASSPHRASE, settings.KEYSTORE_KDF_ITERATIONS
    )


def pkcs11_backend() -> KeyStoreBackend:
    return pkcs11_backend_from(
        library=settings.PKCS11_LIBRARY,
        token_label=settings.PKCS11_TOKEN_LABEL,
        user_pin=settings.PKCS11_USER_PIN,
    )


def keyvault_backend() -> KeyStoreBackend:
    return keyvault_backend_from(
        url=settings.AZURE_KEY_VAULT_URL,
        credential=settings.AZURE_KEY_VAULT_CREDENTIAL,
        ca_file=settings.AZURE_KEY_VAULT_CA_FILE,
        hsm=settings.AZURE_KEY_VAULT_HSM,
    )


def backend(name: str) -> KeyStoreBackend:
    """A backend named in settings.KEY_STORE_BACKENDS."""
    return registry.backend(name)


def open_key_store(backend_name: str, reference: str) -> KeyStore:
    """The process-wide key store for a reference: opened (and unlocked) once per process."""
    return registry.open_key_store(backend_name, reference)


def open_wrapper(backend_name: str, reference: str) -> KeyWrapper:
    """The process-wide wrapping key for a reference."""
    return registry.open_wrapper(backend_name, reference)


def clear_caches() -> None:
    """Forget opened key stores (after the settings behind them change), and which of them
    failed a moment ago."""
    registry.clear_caches()
    key_stores_rested()


def signing_key(organisation: Organisation, address: str) -> KeyStore:
    """The key store of one of the organisation's addresses, from its key history: the
    current key, or a key it is rotating in or out (an operation queued under an address
    is signed by that address's key). `Organisation.key_backend` only says where the
    *next* key is made, so changing it never touches the keys already in use."""
    key = OrganisationKey.objects.filter(organisation=organisation, address__iexact=address).first()
    if key is None:
        raise KeyStoreUnavailable(f"{organisation.name} has no key for {address}")
    return open_key_store(key.backend, key.reference)
