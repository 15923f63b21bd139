"""Signing keys and wrapping keys in a PKCS#11 token (SoftHSM2), through python-pkcs11."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from typing import Any

import pytest
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from web3 import Web3

from contracts.chain.client import LocalSigner, build_transaction
from contracts.custody.hsm import Pkcs11Backend, Pkcs11Config, Pkcs11KeyStore, Pkcs11Token
from contracts.custody.keystore import SECP256K1_N, KeyStore, KeyStoreUnavailable, WrappedKeyInvalid

pytestmark = pytest.mark.integration  # needs Debian's softhsm2 (installed by `make services`)


def _label(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def test_a_key_generated_in_the_token_cannot_be_read_out(softhsm: Pkcs11Config) -> None:
    label = _label("sealed")
    reference, store = Pkcs11Backend(softhsm).create(label=label)
    assert reference == label
    assert isinstance(store, KeyStore)
    assert Web3.is_checksum_address(store.address)

    def inspect(session: Any) -> None:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.LOCAL] is True
        with pytest.raises(p11.AttributeSensitive):
            key[Attribute.VALUE]
        with pytest.raises(p11.PKCS11Error):
            key[Attribute.EXTRACTABLE] = True  # PKCS#11 forbids undoing non-extractable

    store.token.run(inspect)


def test_signatures_are_low_s_and_recover_to_the_address_though_raw_ones_are_not(
    softhsm: Pkcs11Config,
) -> None:
    _, store = Pkcs11Backend(softhsm).create(label=_label("lows"))
    high_raw = 0
    for _ in range(200):
        digest = secrets.token_bytes(32)
        signature = store.sign_digest(digest)
        assert signature.s <= SECP256K1_N // 2
        assert signature.v in (0, 1)
        assert signature.recover_public_key_from_msg_hash(digest).to_checksum_address() == (
            store.address
        )

        def raw(session: Any, digest: bytes = digest) -> bytes:
            key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=store.label)
            return bytes(key.sign(digest, mechanism=Mechanism.ECDSA))

        high_raw += int.from_bytes(store.token.run(raw)[32:], "big") > SECP256K1_N // 2
    assert high_raw > 0  # the token does produce high s: the folding is doing work


@pytest.mark.node
@pytest.mark.chain
def test_a_transaction_signed_in_the_hsm_is_accepted_with_the_right_sender(
    softhsm: Pkcs11Config, anvil_w3: Web3
) -> None:
    _, store = Pkcs11Backend(softhsm).create(label=_label("tx"))
    for _ in range(3):  # several, so both parities of v are likely exercised
        tx = build_transaction(anvil_w3, store.address, to=LocalSigner.create().address, data=b"\1")
        tx_hash = anvil_w3.eth.send_raw_transaction(store.sign_transaction(tx))
        assert anvil_w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1
        assert anvil_w3.eth.get_transaction(tx_hash)["from"] == store.address


def test_a_forked_child_logs_in_on_its_own_and_signs(softhsm: Pkcs11Config) -> None:
    _, store = Pkcs11Backend(softhsm).create(label=_label("fork"))
    parent_session = store.token.run(lambda session: session)
    digest = secrets.token_bytes(32)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what a Celery or gunicorn worker does after start-up
        try:
            signature = store.sign_digest(digest)
            fresh = store.token.run(lambda session: session) is not parent_session
            os.write(write, json.dumps([signature.to_hex(), fresh]).encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read, 4096)
    assert status == 0, "the child could not sign"
    assert answer, "the child could not sign"
    signature_hex, fresh = json.loads(answer)
    assert fresh, "the child used the session it inherited"
    recovered = Web3().eth.account._recover_hash(digest, signature=signature_hex)
    assert recovered == store.address
    assert store.token.run(lambda session: session) is parent_session  # the parent's is intact


def test_one_login_per_process_is_shared_by_every_key(softhsm: Pkcs11Config) -> None:
    backend = Pkcs11Backend(softhsm)
    _, first = backend.create(label=_label("one"))
    second = Pkcs11Backend(softhsm).open(first.label)
    assert first.token is second.token is Pkcs11Token.for_config(softhsm)
    assert second.address == first.address


def test_missing_keys_bad_labels_and_duplicates_are_refused(softhsm: Pkcs11Config) -> None:
    backend = Pkcs11Backend(softhsm)
    with pytest.raises(KeyStoreUnavailable, match="no public key 'absent'"):
        _ = backend.open("absent").address
    with pytest.raises(KeyStoreUnavailable, match="not a key label"):
        backend.open("../etc/passwd")
    label = _label("dup")
    _, store = backend.create(label=label)
    with pytest.raises(ValueError, match="already holds a key"):
        backend.create(label=label)

    def count(session: Any) -> int:
        return len(list(session.get_objects({Attribute.LABEL: label})))

    assert store.token.run(count) == 2  # still just the one key pair
    with pytest.raises(ValueError, match="32 bytes"):
        store.sign_digest(b"short")


def test_wrong_pin_or_unknown_token_is_an_outage(softhsm: Pkcs11Config) -> None:
    # In a fresh process: PKCS#11 logins are per process, and this one is logged in already.
    script = """
import sys
from contracts.custody.hsm import Pkcs11Backend, Pkcs11Config
from contracts.custody.keystore import KeyStoreUnavailable
for config in (Pkcs11Config(sys.argv[1], sys.argv[2], "0000"),
               Pkcs11Config(sys.argv[1], "no-such-token", "1234")):
    try:
        Pkcs11Backend(config).open("any").address
    except KeyStoreUnavailable as exc:
        print(exc)
"""
    out = subprocess.run(
        [sys.executable, "-c", script, softhsm.library, softhsm.token_label],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    ).stdout.splitlines()
    assert out == [
        f"the PIN for PKCS#11 token {softhsm.token_label!r} is wrong",
        f"no PKCS#11 token labelled 'no-such-token' in {softhsm.library}",
    ]


def test_data_keys_are_wrapped_inside_the_token(softhsm: Pkcs11Config) -> None:
    backend = Pkcs11Backend(softhsm)
    reference, wrapper = backend.create_wrapping_key(label=_label("kek"))
    data_key = secrets.token_bytes(32)
    wrapped = wrapper.wrap(data_key)
    assert data_key not in wrapped
    assert wrapper.wrap(data_key) != wrapped
    assert backend.open_wrapper(reference).unwrap(wrapped) == data_key
    altered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    with pytest.raises(WrappedKeyInvalid):
        wrapper.unwrap(altered)
    _, other = backend.create_wrapping_key(label=_label("kek"))
    with pytest.raises(WrappedKeyInvalid):
        other.unwrap(wrapped)

    def value(session: Any) -> None:
        key = session.get_key(
            object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=reference
        )
        with pytest.raises(p11.AttributeSensitive):
            key[Attribute.VALUE]

    wrapper.token.run(value)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_broken_session_is_an_outage_and_the_next_call_logs_in_again(
    softhsm: Pkcs11Config,
) -> None:
    _, store = Pkcs11Backend(softhsm).create(label=_label("reopen"))
    store.token.run(lambda session: session.close())  # the token dropped our session
    with pytest.raises(KeyStoreUnavailable):
        store.sign_digest(b"\1" * 32)
    assert store.sign_digest(b"\2" * 32).v in (0, 1)  # the next call logs in again


def test_the_pkcs11_key_store_is_the_interface_callers_use(softhsm: Pkcs11Config) -> None:
    _, store = Pkcs11Backend(softhsm).create(label=_label("iface"))
    assert isinstance(store, Pkcs11KeyStore)
    assert isinstance(store, KeyStore)
    assert "1234" not in repr(softhsm)
