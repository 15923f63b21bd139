"""Personal data off chain and erasable: sealed per data subject under a key the key store
wraps, read only by the organisation that recorded it (every read logged), and gone for
good once the subject (or its retention period) is forgotten, while every hash, proof and
`verify_mirror` still holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import Client

from contracts.chain.client import get_web3
from contracts.chain.domain import Role, canonical_hash
from contracts.custody.hsm import Pkcs11Config
from contracts.proofs.verify import verify_document
from tests.webapp.network import Network
from tests.webapp.test_api import client_for, post
from webapp.chain.models import ChainEvent
from webapp.chain.verification import verify_mirror
from webapp.lots.models import LotMetadata, LotNumber
from webapp.operations.models import Operation
from webapp.organisations.keys import clear_caches
from webapp.organisations.models import Organisation
from webapp.organisations.services import organisation_create
from webapp.privacy.models import DataSubject, PersonalDataAccess, PersonalValue, RetentionPeriod
from webapp.privacy.services import (
    period_shred,
    personal_json,
    personal_reveal,
    personal_seal,
    subject_forget,
)

EMAIL = "amani.kabila@katanga-cobalt.example"
CONTACT = {"contact_name": "Amani Kabila", "contact_email": EMAIL}


@pytest.fixture
def key_settings(settings: Any, tmp_path: Path) -> Iterator[Any]:
    clear_caches()
    settings.KEYSTORE_DIR = tmp_path / "keys"
    settings.KEYSTORE_KDF_ITERATIONS = 2**10
    settings.KEY_BACKEND = "keystore"
    settings.PERSONAL_DATA_RETENTION = "quarter"
    yield settings
    clear_caches()


def _orgs() -> tuple[Organisation, Organisation]:
    return (
        organisation_create(name="Katanga Cobalt Mine", roles=Role.MINER),
        organisation_create(name="Lualaba Refinery", roles=Role.MANUFACTURER),
    )


def _reveal(refs: dict[str, Any], org: Organisation | None) -> dict[str, Any]:
    return personal_json({"personal": refs}, organisation=org, purpose="test")


def _sealed_and_erased(key_settings: Any) -> None:
    mine, refinery = _orgs()
    refs = personal_seal(organisation=mine, values=CONTACT)
    assert set(refs) == set(CONTACT)
    assert EMAIL not in json.dumps(refs)
    subject_id = refs["contact_email"]["subject"]
    assert _reveal(refs, mine) == {f: {"state": "revealed", "value": v} for f, v in CONTACT.items()}
    assert _reveal(refs, refinery) == {f: {"state": "withheld"} for f in CONTACT}
    assert _reveal(refs, None) == {f: {"state": "withheld"} for f in CONTACT}
    stored = b"".join(bytes(v.ciphertext) for v in PersonalValue.objects.all())
    assert EMAIL.encode() not in stored
    assert b"Amani" not in stored

    subject_forget(subject_id=subject_id)
    assert _reveal(refs, mine) == {f: {"state": "erased"} for f in CONTACT}
    assert PersonalValue.objects.filter(subject_id=subject_id).count() == 2  # noise now
    log = list(PersonalDataAccess.objects.order_by("at", "id").values_list("field", "outcome"))
    assert log == [
        ("contact_email", "revealed"),
        ("contact_name", "revealed"),
        ("contact_email", "erased"),
        ("contact_name", "erased"),
    ]


@pytest.mark.integration
@pytest.mark.django_db
def test_sealed_per_subject_readable_by_its_organisation_only_and_erased_by_forgetting(
    key_settings: Any,
) -> None:
    _sealed_and_erased(key_settings)


@pytest.mark.integration
@pytest.mark.django_db
def test_the_same_holds_with_the_wrapping_key_in_the_hsm(
    key_settings: Any, softhsm: Pkcs11Config
) -> None:
    key_settings.KEY_BACKEND = "pkcs11"
    key_settings.PKCS11_LIBRARY = softhsm.library
    key_settings.PKCS11_TOKEN_LABEL = softhsm.token_label
    key_settings.PKCS11_USER_PIN = softhsm.user_pin
    _sealed_and_erased(key_settings)
    backends = set(DataSubject.objects.values_list("wrapping_key__backend", flat=True))
    assert backends == {"pkcs11"}


@pytest.mark.integration
@pytest.mark.django_db
def test_a_subject_can_collect_more_fields_and_a_forgotten_one_cannot(key_settings: Any) -> None:
    mine, refinery = _orgs()
    first = personal_seal(organisation=mine, values={"contact_name": "Amani Kabila"})
    subject_id = first["contact_name"]["subject"]
    more = personal_seal(
        organisation=mine, values={"postal_address": "Av. Kasai 4, Lubumbashi"},
        subject_id=subject_id,
    )  # fmt: skip
    assert more["postal_address"]["subject"] == subject_id
    with pytest.raises(ValidationError, match="has no data subject"):
        personal_seal(organisation=refinery, values=CONTACT, subject_id=subject_id)
    subject_forget(subject_id=subject_id)
    with pytest.raises(ValidationError, match="erased"):
        personal_seal(organisation=mine, values=CONTACT, subject_id=subject_id)
    assert PersonalValue.objects.count() == 2


@pytest.mark.integration
@pytest.mark.django_db
def test_bad_personal_data_or_a_key_store_outage_stores_nothing(key_settings: Any) -> None:
    mine, _ = _orgs()
    with pytest.raises(ValidationError) as bad:
        personal_seal(
            organisation=mine,
            values={"contact_email": "not-an-address", "shoe_size": "44", "contact_name": " "},
        )
    assert set(bad.value.message_dict) == {"contact_email", "shoe_size", "contact_name"}
    personal_seal(organisation=mine, values=CONTACT)  # creates the wrapping key
    key_settings.KEYSTORE_PASSPHRASE = "not-the-passphrase"
    clear_caches()
    before = (DataSubject.objects.count(), PersonalValue.objects.count())
    with pytest.raises(ValidationError, match="key store unavailable"):
        personal_seal(organisation=mine, values=CONTACT)
    assert (DataSubject.objects.count(), PersonalValue.objects.count()) == before
    refs = {"contact_name": {"subject": str(DataSubject.objects.get().id), "commitment": "0x"}}
    assert personal_reveal(refs=refs, organisation=mine, purpose="t")[0].state == "unavailable"


@pytest.mark.integration
@pytest.mark.django_db
def test_shredding_a_retention_period_erases_its_subjects_and_no_others(
    key_settings: Any,
) -> None:
    mine, _ = _orgs()
    old = personal_seal(organisation=mine, values={"contact_name": "Old Contact"})
    period = RetentionPeriod.objects.get()
    assert DataSubject.objects.get().period == period
    period_shred(name=period.name)
    # The next subject opens... the same (shredded) period name: it is refused, not reused.
    with pytest.raises(ValidationError, match="was shredded"):
        personal_seal(organisation=mine, values={"contact_name": "New Contact"})
    key_settings.PERSONAL_DATA_RETENTION = "month"  # another period
    new = personal_seal(organisation=mine, values={"contact_name": "New Contact"})
    assert _reveal(old, mine) == {"contact_name": {"state": "erased"}}
    assert _reveal(new, mine) == {"contact_name": {"state": "revealed", "value": "New Contact"}}
    with pytest.raises(Exception, match="No retention period"):
        call_command("shred_period", "1999-Q1")


def _counts() -> tuple[int, ...]:
    models = (Operation, LotMetadata, LotNumber, DataSubject, PersonalValue)
    last_id = int(LotNumber.objects.values_list("last", flat=True).first() or 0)
    return (*(model.objects.count() for model in models), last_id)


@pytest.mark.integration
@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_a_forgotten_contact_is_unreadable_everywhere_while_hashes_and_proofs_hold(
    network: Network, portal_settings: Any
) -> None:
    mine, refinery = client_for(network, "mine"), client_for(network, "refinery")
    counts = _counts()
    bad = post(
        mine,
        "/api/v1/lots/register",
        {"name": "Ore", "quantity": 1, "unit": "kg", "personal": {"contact_email": "nope"}},
        "reg-bad",
    )
    assert bad.status_code == 400, bad.json()
    assert "contact_email" in bad.json()["errors"], bad.json()
    # The key store cannot wrap the subject's key: refused, and no lot, id or subject kept.
    passphrase = portal_settings.KEYSTORE_PASSPHRASE
    personal_seal(organisation=network.orgs["mine"], values={"contact_name": "Warm-up"})
    counts = _counts()
    portal_settings.KEYSTORE_PASSPHRASE = "not-the-passphrase"
    clear_caches()
    down = post(
        mine,
        "/api/v1/lots/register",
        {"name": "Ore", "quantity": 1, "unit": "kg", "personal": CONTACT},
        "reg-down",
    )
    assert down.status_code == 400
    assert "key store unavailable" in json.dumps(down.json())
    assert _counts() == counts
    portal_settings.KEYSTORE_PASSPHRASE = passphrase
    clear_caches()

    registered = post(
        mine,
        "/api/v1/lots/register",
        {"name": "Cobalt ore", "quantity": 700, "unit": "kg", "personal": CONTACT},
        "reg-personal",
    )
    assert registered.status_code == 202, registered.json()
    network.settle()
    operation = Operation.objects.get(action="lot.register")
    assert operation.status == Operation.Status.CONFIRMED
    lot_id = int(operation.lot_id or 0)
    assert EMAIL not in json.dumps(operation.request)

    own = mine.get(f"/api/v1/lots/{lot_id}").json()
    assert own["personal"]["contact_email"] == {"state": "revealed", "value": EMAIL}
    assert own["metadata_matches_chain"] is True
    other = refinery.get(f"/api/v1/lots/{lot_id}").json()
    assert other["personal"]["contact_email"] == {"state": "withheld"}
    assert EMAIL not in json.dumps(other)

    meta = LotMetadata.objects.get(lot_id=lot_id)
    document_before = dict(meta.document)
    subject_id = meta.document["personal"]["contact_email"]["subject"]
    call_command("forget_subject", subject_id)

    after = mine.get(f"/api/v1/lots/{lot_id}").json()
    assert after["personal"] == {
        "contact_email": {"state": "erased"},
        "contact_name": {"state": "erased"},
    }
    assert after["metadata_matches_chain"] is True  # the chain's hash still matches
    meta.refresh_from_db()
    assert meta.document == document_before
    assert canonical_hash(meta.document) == meta.metadata_hash

    report = verify_mirror(get_web3(network.w3.provider.endpoint_uri), network.manifest)  # type: ignore[attr-defined]
    assert report.clean
    registered_event = ChainEvent.objects.get(
        event="LotRegistered", transaction_hash=operation.transaction_hash
    )
    public = Client()
    proof = public.get(
        f"/proofs/{registered_event.transaction_hash}/{registered_event.log_index}.json"
    )
    assert verify_document(proof.json()).ok
    pack = public.get(f"/passport/{lot_id}/evidence.json").content
    assert verify_document(json.loads(pack)).ok
    for body in (pack, public.get(f"/passport/{lot_id}").content, json.dumps(after).encode()):
        assert EMAIL.encode() not in body
        assert b"Amani" not in body

    # Nothing anywhere in the database holds the value in the clear.
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                assert EMAIL not in repr(row), table
    assert PersonalDataAccess.objects.filter(subject_id=subject_id, outcome="erased").exists()
