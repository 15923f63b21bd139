"""The default key store: an encrypted keystore file that signs digests and transactions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from contracts.chain.client import LocalSigner, build_transaction, get_web3
from contracts.custody.keystore import (
    SECP256K1_N,
    KeyStore,
    KeystoreFile,
    KeyStoreUnavailable,
    normalise_signature,
)
from deploy.local.node import AnvilNode

FAST_KDF = 2**10  # scrypt work factor for tests; production files use eth-account's default

pytestmark = pytest.mark.unit


def test_a_new_key_is_written_encrypted_and_the_file_names_its_address(tmp_path: Path) -> None:
    store = KeystoreFile.create(tmp_path / "org.json", "correct horse", kdf_iterations=FAST_KDF)
    document = json.loads((tmp_path / "org.json").read_text())
    assert "privateKey" not in document
    assert document["crypto"]["kdf"] == "scrypt"
    assert (tmp_path / "org.json").stat().st_mode & 0o777 == 0o600
    assert isinstance(store, KeyStore)
    key = Account.decrypt(document, "correct horse")
    assert Account.from_key(key).address == store.address


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    KeystoreFile.create(tmp_path / "org.json", "pw", kdf_iterations=FAST_KDF)
    before = (tmp_path / "org.json").read_text()
    with pytest.raises(FileExistsError):
        KeystoreFile.create(tmp_path / "org.json", "pw", kdf_iterations=FAST_KDF)
    assert (tmp_path / "org.json").read_text() == before


def test_digest_signatures_recover_to_the_address_and_are_low_s(tmp_path: Path) -> None:
    store = KeystoreFile.create(tmp_path / "org.json", "pw", kdf_iterations=FAST_KDF)
    for i in range(50):
        digest = Web3.keccak(text=f"message {i}")
        signature = store.sign_digest(digest)
        assert signature.s <= SECP256K1_N // 2
        assert signature.v in (0, 1)
        assert signature.recover_public_key_from_msg_hash(digest).to_checksum_address() == (
            store.address
        )


def test_a_high_s_signature_is_folded_and_v_recovered(tmp_path: Path) -> None:
    signer = Account.create()
    digest = Web3.keccak(text="raw ecdsa from an hsm")
    low = Account._keys.PrivateKey(signer.key).sign_msg_hash(digest)
    normalised = normalise_signature(digest, low.r, SECP256K1_N - low.s, signer.address)
    assert (normalised.r, normalised.s, normalised.v) == (low.r, low.s, low.v)
    with pytest.raises(ValueError, match="does not recover"):
        normalise_signature(digest, low.r, low.s, Account.create().address)


def test_wrong_passphrase_or_missing_file_is_an_outage_not_a_crash(tmp_path: Path) -> None:
    KeystoreFile.create(tmp_path / "org.json", "right", kdf_iterations=FAST_KDF)
    with pytest.raises(KeyStoreUnavailable, match="passphrase does not open it"):
        KeystoreFile(tmp_path / "org.json", "wrong").sign_digest(b"\x01" * 32)
    with pytest.raises(KeyStoreUnavailable, match="missing"):
        KeystoreFile(tmp_path / "gone.json", "right").sign_digest(b"\x01" * 32)


def test_a_digest_must_be_32_bytes(tmp_path: Path) -> None:
    store = KeystoreFile.create(tmp_path / "org.json", "pw", kdf_iterations=FAST_KDF)
    with pytest.raises(ValueError, match="32 bytes"):
        store.sign_digest(b"short")


@pytest.mark.node
@pytest.mark.chain
def test_a_transaction_signed_in_the_key_store_is_accepted_with_the_right_sender(
    tmp_path: Path,
) -> None:
    store = KeystoreFile.create(tmp_path / "org.json", "pw", kdf_iterations=FAST_KDF)
    with AnvilNode() as node:
        get_web3.cache_clear()
        w3 = get_web3(node.url)
        receiver = LocalSigner.create().address
        tx = build_transaction(w3, store.address, to=receiver, data=b"\x01\x02")
        tx_hash = w3.eth.send_raw_transaction(store.sign_transaction(tx))
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        assert w3.eth.get_transaction(tx_hash)["from"] == store.address
    get_web3.cache_clear()
