"""Crypto-shredding destroys key material, not just a flag: after a subject is forgotten
(or its retention period shredded) no key the system still holds — wrapping keys, period
keys, and every data key they can unwrap from what is left in the database — opens a
sealed value of that subject. Altered ciphertexts and commitments are refused."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.chain.domain import Role
from contracts.custody.keystore import WrappedKeyInvalid, WrappingKeyFile
from webapp.organisations.keys import clear_caches, open_wrapper
from webapp.organisations.models import Organisation
from webapp.organisations.services import organisation_create
from webapp.privacy import crypto
from webapp.privacy.models import DataSubject, PersonalValue, RetentionPeriod, WrappingKey
from webapp.privacy.services import period_shred, personal_json, personal_seal, subject_forget

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

CONTACT = {"contact_name": "Amani Kabila", "contact_email": "amani@katanga-cobalt.example"}
OTHER = {"contact_name": "Beatrice Mwamba", "contact_email": "beatrice@katanga-cobalt.example"}


@pytest.fixture
def key_settings(settings: Any, tmp_path: Path) -> Iterator[Any]:
    clear_caches()
    settings.KEYSTORE_DIR = tmp_path / "keys"
    settings.KEYSTORE_KDF_ITERATIONS = 2**10
    settings.KEY_BACKEND = "keystore"
    settings.PERSONAL_DATA_RETENTION = "quarter"
    yield settings
    clear_caches()


@pytest.fixture
def mine(key_settings: Any) -> Organisation:
    return organisation_create(name="Katanga Cobalt Mine", roles=Role.MINER)


def keys_left() -> list[bytes]:
    """Every key the system can still produce: the wrapping keys themselves, each period
    key any of them unwraps, and each data key they unwrap from every stored subject key
    (tried bare and under every period key, with every subject id as associated data)."""
    wrappers = [open_wrapper(k.backend, k.reference) for k in WrappingKey.objects.all()]
    assert all(isinstance(w, WrappingKeyFile) for w in wrappers)
    keys = [w._kek() for w in wrappers if isinstance(w, WrappingKeyFile)]

    def unwrapped(blob: bytes) -> list[bytes]:
        found = []
        for wrapper in wrappers:
            with contextlib.suppress(WrappedKeyInvalid):
                found.append(wrapper.unwrap(blob))
        return found

    period_keys = [k for p in RetentionPeriod.objects.all() for k in unwrapped(p.wrapped_key)]
    keys += period_keys
    subject_ids = [str(s) for s in DataSubject.objects.values_list("id", flat=True)]
    for blob in (bytes(b) for b in DataSubject.objects.values_list("wrapped_key", flat=True)):
        inner = [blob]
        for period_key in period_keys:
            for subject_id in subject_ids:
                with contextlib.suppress(crypto.Unreadable):
                    inner.append(crypto.unlayer(period_key, subject_id, blob))
        keys += [key for layer in inner for key in unwrapped(layer)]
    return keys


def opened_values(subject_id: str) -> list[str]:
    """The values of a subject that some key left in the system opens."""
    candidates = keys_left()
    opened = []
    for row in PersonalValue.objects.filter(subject_id=subject_id):
        for key in candidates:
            with contextlib.suppress(crypto.Unreadable):
                opened.append(
                    crypto.unseal(key, subject_id, row.field, bytes(row.ciphertext), row.commitment)
                )
    return opened


def subject_of(refs: dict[str, dict[str, str]]) -> str:
    return refs["contact_name"]["subject"]


def test_forgetting_a_subject_destroys_its_wrapped_key_and_no_key_left_opens_its_values(
    mine: Organisation,
) -> None:
    forgotten = subject_of(personal_seal(organisation=mine, values=CONTACT))
    kept = subject_of(personal_seal(organisation=mine, values=OTHER))
    wrapped_before = bytes(DataSubject.objects.get(id=forgotten).wrapped_key)
    assert sorted(opened_values(forgotten)) == sorted(CONTACT.values())  # the search works

    subject_forget(subject_id=forgotten)

    assert bytes(DataSubject.objects.get(id=forgotten).wrapped_key) == b""
    stored = [bytes(b) for b in DataSubject.objects.values_list("wrapped_key", flat=True)]
    assert wrapped_before not in stored
    assert opened_values(forgotten) == []
    assert sorted(opened_values(kept)) == sorted(OTHER.values())  # others are untouched


def test_shredding_a_period_destroys_its_key_and_no_key_left_opens_its_subjects(
    mine: Organisation, key_settings: Any
) -> None:
    shredded = subject_of(personal_seal(organisation=mine, values=CONTACT))
    period = RetentionPeriod.objects.get()
    key_settings.PERSONAL_DATA_RETENTION = "month"  # a subject in another period
    kept = subject_of(personal_seal(organisation=mine, values=OTHER))
    assert sorted(opened_values(shredded)) == sorted(CONTACT.values())

    period_shred(name=period.name)

    assert bytes(RetentionPeriod.objects.get(pk=period.pk).wrapped_key) == b""
    assert opened_values(shredded) == []
    assert sorted(opened_values(kept)) == sorted(OTHER.values())


def test_an_altered_ciphertext_or_commitment_is_refused(mine: Organisation) -> None:
    refs = personal_seal(organisation=mine, values=CONTACT)
    subject_id = subject_of(refs)

    def revealed() -> dict[str, Any]:
        return personal_json({"personal": refs}, organisation=mine, purpose="test")

    assert revealed()["contact_name"] == {"state": "revealed", "value": CONTACT["contact_name"]}

    name = PersonalValue.objects.get(subject_id=subject_id, field="contact_name")
    original = bytes(name.ciphertext)
    altered = bytearray(original)
    altered[-1] ^= 0x01
    PersonalValue.objects.filter(pk=name.pk).update(ciphertext=bytes(altered))
    assert revealed()["contact_name"]["state"] != "revealed"
    assert "value" not in revealed()["contact_name"]

    # The right bytes under another (well-formed) commitment, changed in the store and in
    # the reference alike: the opened value does not hash to it, so it is refused.
    forged = "0x" + "ab" * 32
    PersonalValue.objects.filter(pk=name.pk).update(ciphertext=original, commitment=forged)
    refs["contact_name"]["commitment"] = forged
    assert revealed()["contact_name"]["state"] != "revealed"
    assert "value" not in revealed()["contact_name"]

    # A sealed value moved to another field (or subject) does not open there either.
    email = PersonalValue.objects.get(subject_id=subject_id, field="contact_email")
    refs["contact_email"]["commitment"] = email.commitment
    PersonalValue.objects.filter(pk=email.pk).update(field="contact_phone")
    refs["contact_phone"] = {"subject": subject_id, "commitment": email.commitment}
    assert revealed()["contact_phone"]["state"] != "revealed"


def test_the_cipher_refuses_altered_bytes_a_wrong_commitment_or_another_subject() -> None:
    key = crypto.new_key()
    sealed = crypto.seal(key, "subject-a", "contact_name", "Amani Kabila")
    assert crypto.unseal(key, "subject-a", "contact_name", sealed.ciphertext, sealed.commitment)
    for position in (0, crypto.NONCE_BYTES, len(sealed.ciphertext) - 1):
        altered = bytearray(sealed.ciphertext)
        altered[position] ^= 0x01
        with pytest.raises(crypto.Unreadable):
            crypto.unseal(key, "subject-a", "contact_name", bytes(altered), sealed.commitment)
    with pytest.raises(crypto.Unreadable, match="commitment"):
        crypto.unseal(key, "subject-a", "contact_name", sealed.ciphertext, "0x" + "00" * 32)
    with pytest.raises(crypto.Unreadable):
        crypto.unseal(key, "subject-b", "contact_name", sealed.ciphertext, sealed.commitment)
    with pytest.raises(crypto.Unreadable):
        crypto.unseal(key, "subject-a", "contact_email", sealed.ciphertext, sealed.commitment)
