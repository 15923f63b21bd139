"""The key-store backend registry: names map to factories, key stores open once per process,
and an unknown name or a missing setting is an outage callers can queue behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.custody.backends import (
    BackendRegistry,
    KeystoreFileBackend,
    keyvault_backend,
    pkcs11_backend,
)
from contracts.custody.keystore import KeyStoreUnavailable

pytestmark = pytest.mark.unit

FAST_KDF = 2**4
MASTER = "registry-test-master"
DIGEST = b"\x05" * 32
#: Where files_backend keeps its files; each test points it at its own tmp_path.
DIRECTORY = Path("/nonexistent")
FACTORY = f"{__name__}.files_backend"


def files_backend() -> KeystoreFileBackend:
    return KeystoreFileBackend(DIRECTORY, MASTER, FAST_KDF)


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KeystoreFileBackend:
    monkeypatch.setattr(f"{__name__}.DIRECTORY", tmp_path)
    return files_backend()


def test_a_key_store_is_opened_once_and_shared_until_the_caches_are_cleared(
    files: KeystoreFileBackend, tmp_path: Path
) -> None:
    reference, created = files.create(label="mine")
    registry = BackendRegistry(lambda: {"keystore": FACTORY})

    first = registry.open_key_store("keystore", reference)
    assert first.address == created.address
    assert registry.open_key_store("keystore", reference) is first
    first.sign_digest(DIGEST)

    registry.clear_caches()
    again = registry.open_key_store("keystore", reference)
    assert again is not first
    assert again.address == created.address


def test_wrapping_keys_are_cached_apart_from_signing_keys(files: KeystoreFileBackend) -> None:
    reference, wrapper = files.create_wrapping_key(label="mine")
    registry = BackendRegistry(lambda: {"keystore": FACTORY})
    opened = registry.open_wrapper("keystore", reference)
    assert opened is registry.open_wrapper("keystore", reference)
    data_key = b"\x01" * 32
    assert opened.unwrap(wrapper.wrap(data_key)) == data_key


def test_the_mapping_is_read_at_each_lookup(files: KeystoreFileBackend) -> None:
    names: dict[str, str] = {}
    registry = BackendRegistry(lambda: names)
    with pytest.raises(KeyStoreUnavailable, match="no key-store backend named 'keystore'"):
        registry.backend("keystore")
    names["keystore"] = FACTORY
    assert isinstance(registry.backend("keystore"), KeystoreFileBackend)


def test_an_unknown_backend_or_reference_opens_nothing(files: KeystoreFileBackend) -> None:
    registry = BackendRegistry(lambda: {"keystore": FACTORY})
    with pytest.raises(KeyStoreUnavailable, match="no key-store backend named 'hsm'"):
        registry.open_key_store("hsm", "mine.json")
    with pytest.raises(KeyStoreUnavailable, match="not a keystore file name"):
        registry.open_key_store("keystore", "../mine.json")


def test_a_factory_path_that_names_nothing_is_a_configuration_error() -> None:
    registry = BackendRegistry(lambda: {"keystore": f"{__name__}.no_such_factory"})
    with pytest.raises(ImportError, match="names no key-store backend factory"):
        registry.backend("keystore")


def test_backends_without_their_secret_setting_are_unavailable() -> None:
    with pytest.raises(KeyStoreUnavailable, match="PROVENANT_PKCS11_USER_PIN"):
        pkcs11_backend(library="/usr/lib/softhsm/libsofthsm2.so", token_label="t", user_pin="")
    with pytest.raises(KeyStoreUnavailable, match="PROVENANT_KEY_VAULT_URL"):
        keyvault_backend(url="", credential="default", ca_file="", hsm=False)
    with pytest.raises(KeyStoreUnavailable, match="Key Vault settings"):
        keyvault_backend(url="not a url", credential="default", ca_file="", hsm=False)
    with pytest.raises(KeyStoreUnavailable, match="PROVENANT_KEYSTORE_PASSPHRASE"):
        KeystoreFileBackend(Path("/nonexistent"), "", FAST_KDF).create(label="mine")
