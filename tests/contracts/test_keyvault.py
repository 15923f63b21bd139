"""Organisation keys in Azure Key Vault, through the real SDK against the local vault server."""

from __future__ import annotations

import http.client
import json
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.identity import DefaultAzureCredential
from azure.keyvault.keys._shared import HttpChallengeCache
from web3 import Web3

from contracts.chain.client import LocalSigner, build_transaction
from contracts.custody.keystore import (
    SECP256K1_N,
    KeyStore,
    KeyStoreUnavailable,
    KeyWrapper,
    WrappedKeyInvalid,
)
from contracts.custody.keyvault import (
    KEY_NAME,
    KeyVaultBackend,
    KeyVaultConfig,
    StaticTokenCredential,
    credential_from_setting,
    key_name_for,
)
from deploy.local.keyvault import LocalKeyVault

PRIVATE_JWK_FIELDS = {"d", "p", "q", "dp", "dq", "qi", "k"}


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[LocalKeyVault]:
    with LocalKeyVault(tmp_path / "vault") as server:
        yield server


@pytest.fixture
def backend(vault: LocalKeyVault) -> KeyVaultBackend:
    return KeyVaultBackend(vault.config())


def raw_request(
    vault: LocalKeyVault, method: str, path: str, *, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    """One request as any HTTP client would send it, outside the SDK."""
    context = ssl.create_default_context(cafile=str(vault.ca_file))
    host, port = vault.url.removeprefix("https://").rsplit(":", 1)
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=5)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, dict(response.headers), json.loads(payload) if payload else None


@pytest.mark.unit
def test_the_first_request_answers_the_bearer_challenge_and_then_succeeds(
    vault: LocalKeyVault,
) -> None:
    # The SDK caches challenges per host:port for the whole process; a port the OS hands out
    # again must not hide this server's challenge.
    HttpChallengeCache.clear()
    assert vault.challenges == 0
    reference, store = KeyVaultBackend(vault.config()).create(label="acme")
    assert vault.challenges >= 1
    assert reference.startswith(f"{vault.url}/keys/acme/")
    digest = Web3.keccak(text="after the challenge")
    signature = store.sign_digest(digest)
    assert signature.recover_public_key_from_msg_hash(digest).to_checksum_address() == (
        store.address
    )


@pytest.mark.unit
def test_a_wrong_token_is_an_authentication_failure_not_a_crash(
    vault: LocalKeyVault, backend: KeyVaultBackend
) -> None:
    reference, _ = backend.create(label="acme")
    intruder = KeyVaultBackend(vault.config(credential=StaticTokenCredential("not-the-token")))
    with pytest.raises(KeyStoreUnavailable, match="authentication failed"):
        intruder.open(reference).sign_digest(b"\x01" * 32)
    with pytest.raises(KeyStoreUnavailable, match="authentication failed"):
        intruder.create(label="intruder")
    assert raw_request(vault, "GET", "/keys/intruder?api-version=7.6", token=vault.token)[0] == 404


@pytest.mark.unit
def test_signatures_are_low_s_and_recover_to_the_key_address(backend: KeyVaultBackend) -> None:
    _, store = backend.create(label="acme")
    assert isinstance(store, KeyStore)
    for _ in range(200):
        digest = os.urandom(32)
        signature = store.sign_digest(digest)
        assert signature.s <= SECP256K1_N // 2
        assert signature.v in (0, 1)
        recovered = signature.recover_public_key_from_msg_hash(digest)
        assert recovered.to_checksum_address() == store.address
    with pytest.raises(ValueError, match="32 bytes"):
        store.sign_digest(b"short")


@pytest.mark.unit
def test_a_reopened_reference_is_the_same_key(vault: LocalKeyVault) -> None:
    reference, store = KeyVaultBackend(vault.config()).create(label="acme_mining.2")
    reopened = KeyVaultBackend(vault.config()).open(reference)
    assert reopened.address == store.address
    digest = Web3.keccak(text="reopened")
    assert reopened.sign_digest(digest).recover_public_key_from_msg_hash(digest) == (
        store.sign_digest(digest).recover_public_key_from_msg_hash(digest)
    )
    # A second key under the same label is a new version with its own address.
    second_reference, second = KeyVaultBackend(vault.config()).create(label="acme_mining.2")
    assert second_reference.rsplit("/", 1)[0] == reference.rsplit("/", 1)[0]
    assert second.address != store.address


@pytest.mark.unit
def test_a_forked_worker_signs_with_its_own_connection(backend: KeyVaultBackend) -> None:
    _, store = backend.create(label="acme")
    digest = Web3.keccak(text="from the parent")
    store.sign_digest(digest)  # the parent's client exists (and holds a pooled connection)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's teardown
        status = 1
        try:
            child_digest = Web3.keccak(text="from the child")
            signature = store.sign_digest(child_digest)
            ok = signature.recover_public_key_from_msg_hash(child_digest).to_checksum_address()
            os.write(write_end, ok.encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    reported = os.read(read_end, 100).decode()
    os.close(read_end)
    assert os.waitstatus_to_exitcode(status) == 0
    assert reported == store.address
    assert store.sign_digest(digest).recover_public_key_from_msg_hash(
        digest
    ).to_checksum_address() == (store.address)


@pytest.mark.unit
def test_a_data_key_wrapped_in_the_vault_unwraps_only_with_the_same_key(
    backend: KeyVaultBackend,
) -> None:
    reference, wrapper = backend.create_wrapping_key(label="personal-data")
    assert isinstance(wrapper, KeyWrapper)
    assert wrapper.reference == reference
    data_key = os.urandom(32)
    wrapped = wrapper.wrap(data_key)
    assert wrapped != data_key
    assert len(wrapped) == 384
    assert backend.open_wrapper(reference).unwrap(wrapped) == data_key

    altered = bytearray(wrapped)
    altered[100] ^= 0x01
    with pytest.raises(WrappedKeyInvalid):
        wrapper.unwrap(bytes(altered))
    _, other = backend.create_wrapping_key(label="other-data")
    with pytest.raises(WrappedKeyInvalid):
        wrapper.unwrap(other.wrap(data_key))
    with pytest.raises(WrappedKeyInvalid):
        wrapper.unwrap(b"short")


@pytest.mark.unit
def test_a_vault_outage_is_reported_and_signing_resumes_after_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "vault"
    first = LocalKeyVault(state).start()
    port = first.port
    try:
        config = first.config(retry_total=0, connection_timeout=2.0, read_timeout=5.0)
        _, store = KeyVaultBackend(config).create(label="acme")
        address = store.address
        store.sign_digest(b"\x02" * 32)
    finally:
        first.stop()

    # retry_total=0: one refused connection is reported at once as an outage, naming the
    # vault, instead of being retried inside the signing call
    with pytest.raises(KeyStoreUnavailable, match=f"127.0.0.1:{port} cannot be reached"):
        store.sign_digest(b"\x03" * 32)

    second = LocalKeyVault(state, port=port)  # same keys, same CA, same token (kept in state)
    with second:
        digest = Web3.keccak(text="after the outage")
        signature = store.sign_digest(digest)
        assert signature.recover_public_key_from_msg_hash(digest).to_checksum_address() == address
        second.stop()
        with pytest.raises(KeyStoreUnavailable):
            store.sign_digest(digest)
        second.start()  # the same server object comes back on its port
        assert second.port == port
        assert store.sign_digest(digest).recover_public_key_from_msg_hash(digest) == (
            signature.recover_public_key_from_msg_hash(digest)
        )


@pytest.mark.unit
def test_a_managed_hsm_creates_hsm_keys_and_signs_the_same_way(tmp_path: Path) -> None:
    HttpChallengeCache.clear()
    with LocalKeyVault(tmp_path / "hsm", managed_hsm=True) as hsm:
        status, headers, _ = raw_request(hsm, "GET", "/keys/any?api-version=7.6")
        assert status == 401
        assert 'resource="https://managedhsm.azure.net"' in headers["WWW-Authenticate"]

        reference, store = KeyVaultBackend(hsm.config(hardware_protected=True)).create(label="acme")
        _, _, bundle = raw_request(
            hsm, "GET", f"{reference.split(hsm.url)[1]}?api-version=7.6", token=hsm.token
        )
        assert bundle["key"]["kty"] == "EC-HSM"
        assert bundle["key"]["crv"] == "P-256K"
        digest = Web3.keccak(text="in the hsm")
        signature = store.sign_digest(digest)
        assert signature.s <= SECP256K1_N // 2
        assert signature.recover_public_key_from_msg_hash(digest).to_checksum_address() == (
            store.address
        )
        # A managed HSM holds HSM-protected keys only: a software key request is refused.
        with pytest.raises(ValueError, match="EC-HSM"):
            KeyVaultBackend(hsm.config(hardware_protected=False)).create(label="soft")


@pytest.mark.unit
def test_the_vault_never_returns_private_key_material(
    vault: LocalKeyVault, backend: KeyVaultBackend
) -> None:
    signing, _ = backend.create(label="acme")
    wrapping, _ = backend.create_wrapping_key(label="pii")
    created = raw_request(
        vault, "POST", "/keys/raw/create?api-version=7.6", token=vault.token, body={"kty": "RSA"}
    )[2]
    documents = [created]
    for reference in (signing, wrapping):
        path = reference.removeprefix(vault.url)
        documents.append(raw_request(vault, "GET", f"{path}?api-version=7.6", token=vault.token)[2])
        name_only = path.rsplit("/", 1)[0]
        documents.append(
            raw_request(vault, "GET", f"{name_only}?api-version=7.6", token=vault.token)[2]
        )
    for document in documents:
        assert not PRIVATE_JWK_FIELDS & set(document["key"]), document["key"]
    assert {"x", "y"} <= set(documents[1]["key"])
    assert {"n", "e"} <= set(documents[3]["key"])
    for pem in (vault.state_dir / "keys").rglob("*.pem"):
        assert pem.stat().st_mode & 0o777 == 0o600


@pytest.mark.unit
def test_the_server_speaks_key_vault_errors(vault: LocalKeyVault) -> None:
    status, headers, body = raw_request(vault, "GET", "/keys/acme?api-version=7.6")
    assert status == 401
    assert headers["WWW-Authenticate"] == (
        'Bearer authorization="https://login.microsoftonline.com/'
        '00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"'
    )
    status, _, body = raw_request(vault, "GET", "/keys/acme?api-version=7.6", token="wrong")
    assert status == 401
    assert body["error"]["code"] == "Unauthorized"
    status, _, body = raw_request(vault, "GET", "/keys/acme", token=vault.token)
    assert status == 400
    assert "api-version" in body["error"]["message"]
    status, _, body = raw_request(vault, "GET", "/keys/acme?api-version=7.6", token=vault.token)
    assert status == 404
    assert body["error"]["code"] == "KeyNotFound"
    status, _, body = raw_request(
        vault,
        "POST",
        "/keys/bad_name/create?api-version=7.6",
        token=vault.token,
        body={"kty": "EC"},
    )
    assert status == 400
    assert body["error"]["code"] == "BadParameter"

    created = raw_request(
        vault,
        "POST",
        "/keys/verify-only/create?api-version=7.6",
        token=vault.token,
        body={"kty": "EC", "crv": "P-256K", "key_ops": ["verify"]},
    )[2]
    path = created["key"]["kid"].removeprefix(vault.url)
    status, _, body = raw_request(
        vault,
        "POST",
        f"{path}/sign?api-version=7.6",
        token=vault.token,
        body={"alg": "ES256K", "value": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    )
    assert status == 403
    assert "not permitted" in body["error"]["message"]


@pytest.mark.unit
def test_references_must_be_versioned_keys_on_the_configured_vault(
    vault: LocalKeyVault, backend: KeyVaultBackend
) -> None:
    reference, _ = backend.create(label="acme")
    version = reference.rsplit("/", 1)[1]
    with pytest.raises(ValueError, match="not on the configured vault"):
        backend.open(f"https://acme.vault.azure.net/keys/acme/{version}")
    with pytest.raises(ValueError, match="not on the configured vault"):
        backend.open_wrapper(reference.replace("127.0.0.1", "localhost"))
    for malformed in (
        "acme",
        f"{vault.url}/keys/acme",  # no version: a rotation would change the address
        f"{vault.url}/secrets/acme/{version}",
        f"{vault.url}/keys/bad_name/{version}",
        reference.replace("https://", "http://"),
    ):
        with pytest.raises(ValueError, match="key identifier"):
            backend.open(malformed)


@pytest.mark.unit
def test_a_key_of_the_wrong_kind_is_refused(vault: LocalKeyVault, backend: KeyVaultBackend) -> None:
    p256 = raw_request(
        vault,
        "POST",
        "/keys/p256/create?api-version=7.6",
        token=vault.token,
        body={"kty": "EC", "crv": "P-256", "key_ops": ["sign", "verify"]},
    )[2]
    with pytest.raises(ValueError, match="EC on P-256K"):
        backend.open(p256["key"]["kid"]).sign_digest(b"\x01" * 32)
    signing, _ = backend.create(label="acme")
    with pytest.raises(ValueError, match="is EC; a wrapping key is RSA"):
        backend.open_wrapper(signing).wrap(os.urandom(32))


@pytest.mark.unit
def test_labels_become_valid_key_names_deterministically() -> None:
    assert key_name_for("acme-mining-2") == "acme-mining-2"
    name = key_name_for("acme_mining.2")
    assert KEY_NAME.match(name)
    assert name.startswith("acme-mining-2-")
    assert key_name_for("acme_mining.2") == name != key_name_for("acme.mining_2")
    assert KEY_NAME.match(key_name_for("ü" * 300))
    with pytest.raises(ValueError, match="cannot be empty"):
        key_name_for("")


@pytest.mark.unit
def test_settings_name_a_credential_and_a_vault() -> None:
    assert isinstance(credential_from_setting("default"), DefaultAzureCredential)
    static = credential_from_setting("static:s3cret")
    assert static.get_token("https://vault.azure.net/.default").token == "s3cret"
    for bad in ("", "static:", "token s3cret"):
        with pytest.raises(ValueError, match="'default' or 'static:<token>'"):
            credential_from_setting(bad)

    local = KeyVaultConfig.from_settings(url="https://127.0.0.1:8443", credential="static:t")
    assert local.verify_challenge_resource is False
    azure = KeyVaultConfig.from_settings(url="https://acme.vault.azure.net/", hsm=True)
    assert azure.verify_challenge_resource is True
    assert azure.hardware_protected
    assert azure.vault_url == "https://acme.vault.azure.net"
    with pytest.raises(ValueError, match="https"):
        KeyVaultConfig(vault_url="http://acme.vault.azure.net", credential=static)


@pytest.mark.node
@pytest.mark.chain
def test_a_transaction_signed_in_key_vault_is_accepted_with_the_vault_key_as_sender(
    anvil_w3: Web3, vault: LocalKeyVault, backend: KeyVaultBackend
) -> None:
    _, store = backend.create(label="acme")
    receiver = LocalSigner.create().address
    tx = build_transaction(anvil_w3, store.address, to=receiver, data=b"\x01\x02")
    tx_hash = anvil_w3.eth.send_raw_transaction(store.sign_transaction(tx))
    receipt = anvil_w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    assert anvil_w3.eth.get_transaction(tx_hash)["from"] == store.address
