"""Organisations whose keys live in an HSM or in Azure Key Vault work exactly like the
others; a key store that is down leaves their operations queued and unsigned; an
organisation moves to a new key without losing its history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from contracts.chain.domain import Role
from contracts.custody.hsm import Pkcs11Config
from deploy.local.keyvault import LocalKeyVault
from tests.webapp.network import Network
from tests.webapp.test_provenance_flow import certify
from webapp.certificates.services import certificate_revoke
from webapp.lots.services import handoff_initiate, lot_register
from webapp.operations.models import Operation
from webapp.operations.submitter import SubmitLater, operation_send
from webapp.organisations.keys import clear_caches
from webapp.organisations.models import Organisation, OrganisationKey
from webapp.organisations.selectors import organisation_names
from webapp.organisations.services import (
    organisation_create,
    organisation_create_key,
)
from webapp.participants.rotation import organisation_rotate_key, organisation_rotation_advance
from webapp.participants.services import organisation_register
from webapp.projections.models import Balance, ParticipantVersion

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def hsm_settings(portal_settings: Any, softhsm: Pkcs11Config) -> Any:
    portal_settings.PKCS11_LIBRARY = softhsm.library
    portal_settings.PKCS11_TOKEN_LABEL = softhsm.token_label
    portal_settings.PKCS11_USER_PIN = softhsm.user_pin
    return portal_settings


@pytest.fixture
def vault(tmp_path: Path, portal_settings: Any) -> Iterator[LocalKeyVault]:
    with LocalKeyVault(tmp_path / "keyvault") as server:
        portal_settings.AZURE_KEY_VAULT_URL = server.url
        portal_settings.AZURE_KEY_VAULT_CREDENTIAL = f"static:{server.token}"
        portal_settings.AZURE_KEY_VAULT_CA_FILE = str(server.ca_file)
        yield server


def onboard(network: Network, backend_name: str) -> Organisation:
    org = organisation_create(name=f"Mine on {backend_name}", roles=Role.MINER)
    organisation_create_key(organisation=org, backend_name=backend_name)
    organisation_register(organisation=org)
    network.settle()
    return org


def register_and_confirm(network: Network, org: Organisation) -> Operation:
    operation = lot_register(organisation=org, name="Ore", quantity=10, unit="kg")
    network.settle()
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CONFIRMED, operation.error
    tx = network.w3.eth.get_transaction(operation.transaction_hash)  # type: ignore[arg-type]
    assert tx["from"] == org.address
    return operation


def assert_queued_unsigned(network: Network, operation: Operation, reason: str) -> None:
    with pytest.raises(SubmitLater):
        operation_send(operation_id=operation.id)
    operation.refresh_from_db()
    assert operation.status == Operation.Status.QUEUED
    assert operation.waiting_reason.startswith("key store unavailable:")
    assert reason in operation.waiting_reason
    assert (operation.transaction_hash, operation.raw_transaction, operation.nonce) == (
        "",
        "",
        None,
    )


def test_an_hsm_organisation_signs_its_operations_and_an_hsm_outage_leaves_them_queued(
    network: Network, hsm_settings: Any
) -> None:
    org = onboard(network, "pkcs11")
    key = OrganisationKey.objects.get(organisation=org)
    assert (key.backend, key.status, key.address) == ("pkcs11", "active", org.address)
    register_and_confirm(network, org)

    nonce = network.w3.eth.get_transaction_count(org.address)
    operation = lot_register(organisation=org, name="Ore", quantity=5, unit="kg")
    token_label = hsm_settings.PKCS11_TOKEN_LABEL
    hsm_settings.PKCS11_TOKEN_LABEL = "unplugged-token"
    clear_caches()
    assert_queued_unsigned(network, operation, "no PKCS#11 token labelled 'unplugged-token'")
    assert network.w3.eth.get_transaction_count(org.address) == nonce

    hsm_settings.PKCS11_TOKEN_LABEL = token_label
    clear_caches()
    network.settle()
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CONFIRMED
    assert operation.nonce == nonce


def test_a_key_vault_organisation_signs_its_operations_and_a_vault_outage_leaves_them_queued(
    network: Network, portal_settings: Any, vault: LocalKeyVault
) -> None:
    org = onboard(network, "keyvault")
    assert OrganisationKey.objects.get(organisation=org).reference.startswith(vault.url + "/keys/")
    register_and_confirm(network, org)
    assert vault.challenges >= 1  # the SDK went through the 401 bearer challenge

    nonce = network.w3.eth.get_transaction_count(org.address)
    operation = lot_register(organisation=org, name="Ore", quantity=5, unit="kg")
    vault.stop()
    clear_caches()
    assert_queued_unsigned(network, operation, f"127.0.0.1:{vault.port} cannot be reached")
    assert network.w3.eth.get_transaction_count(org.address, "pending") == nonce  # none sent
    vault.start()
    clear_caches()
    network.settle()
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CONFIRMED


def test_an_organisation_rotates_to_an_hsm_key_and_keeps_its_lots_history_and_certificates(
    network: Network, hsm_settings: Any
) -> None:
    mine, certifier = network.orgs["mine"], network.orgs["certifier"]
    old_mine, old_certifier = mine.address, certifier.address
    lot = lot_register(organisation=mine, name="Ore", quantity=100, unit="kg")
    network.settle()
    lot_id = int(lot.lot_id or 0)
    certificate_id = certify(network, lot_id, 5)

    for org in (mine, certifier):
        organisation_rotate_key(organisation=org, backend_name="pkcs11")
    with pytest.raises(ValidationError, match="already under way"):
        organisation_rotate_key(organisation=mine)
    assert "waiting for the chain" in organisation_rotation_advance(organisation=mine)
    network.settle()
    for org in (mine, certifier):
        organisation_rotation_advance(organisation=org)  # switch; mine moves its lot
        org.refresh_from_db()
    assert organisation_rotation_advance(organisation=mine).startswith(
        f"waiting: {old_mine} still holds 1 lots"
    )  # the old address is not retired while it holds anything
    assert mine.key_backend == "pkcs11"
    assert mine.address != old_mine
    network.settle()
    holder = Balance.objects.get(lot_id=lot_id, block_to__isnull=True, quantity__gt=0).holder
    assert holder == mine.address
    migrated = Operation.objects.get(action="organisation.migrate_holdings")
    assert migrated.sender == old_mine
    assert migrated.status == Operation.Status.CONFIRMED

    for org, old in ((mine, old_mine), (certifier, old_certifier)):
        assert "retiring" in organisation_rotation_advance(organisation=org)
        network.settle()
        assert not ParticipantVersion.objects.get(account=old, block_to__isnull=True).active
        assert organisation_rotation_advance(organisation=org) == "no key rotation under way"
    assert set(
        OrganisationKey.objects.filter(organisation=mine).values_list("status", flat=True)
    ) == {
        "active",
        "retired",
    }

    # The new keys act: the mine hands the lot on, the certifier revokes its old certificate.
    handed = handoff_initiate(
        organisation=mine, lot_id=lot_id, receiver=network.orgs["refinery"], quantity=40
    )
    revoked = certificate_revoke(organisation=certifier, certificate_id=certificate_id, reason="x")
    network.settle()
    for operation in (handed, revoked):
        operation.refresh_from_db()
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    assert network.w3.eth.get_transaction(handed.transaction_hash)["from"] == mine.address  # type: ignore[arg-type]

    # History still names the organisation for what its old key did.
    detail = Client().get(f"/passport/{lot_id}")
    assert detail.status_code == 200
    assert mine.name in detail.content.decode()
    assert organisation_names()[old_mine] == mine.name


def test_a_rotation_whose_key_store_fails_leaves_nothing_behind(
    network: Network, hsm_settings: Any
) -> None:
    mine = network.orgs["mine"]
    hsm_settings.PKCS11_USER_PIN = "0000"  # this process is logged in already: use no token
    hsm_settings.PKCS11_TOKEN_LABEL = "unplugged-token"
    clear_caches()
    before = Operation.objects.count()
    with pytest.raises(ValidationError, match="key store failed"):
        organisation_rotate_key(organisation=mine, backend_name="pkcs11")
    with pytest.raises(ValidationError, match="No key store 'vault'"):
        organisation_rotate_key(organisation=mine, backend_name="vault")
    with pytest.raises(ValidationError, match="two-step admin transfer"):
        organisation_rotate_key(organisation=Organisation.objects.get(is_operator=True))
    assert Operation.objects.count() == before
    assert OrganisationKey.objects.filter(organisation=mine).count() == 1
