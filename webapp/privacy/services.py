"""Seal, reveal and erase personal data (envelope encryption, crypto-shredding).

Key hierarchy: a wrapping key in the key store (HSM, Key Vault or the local keystore; it
never leaves it) wraps each data subject's data key; with a retention policy the wrapped
subject key is sealed once more under the key of its retention period, itself wrapped by
the key store. Erasing a subject overwrites its wrapped key; shredding a period overwrites
the period's. Neither touches a hash, a commitment or anything on chain, so proofs and
`verify_mirror` hold afterwards, while the sealed values are unreadable everywhere a copy
of them went (mirror, exports, replayed payloads).

A copy of the database taken before an erasure still holds the wrapped key; backups of the
`privacy_*` tables must expire within the erasure deadline (see the README).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from contracts.custody.keystore import KeyStoreUnavailable, KeyWrapper, WrappedKeyInvalid
from webapp.organisations.keys import backend, open_wrapper
from webapp.organisations.models import Organisation
from webapp.privacy import crypto
from webapp.privacy.models import (
    PERSONAL_FIELDS,
    DataSubject,
    PersonalDataAccess,
    PersonalValue,
    RetentionPeriod,
    WrappingKey,
)

User = AbstractBaseUser | AnonymousUser | None
MAX_VALUE_LENGTH = 500
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

log = logging.getLogger(__name__)


class Erased(Exception):
    """The subject (or its retention period) was erased: its data is gone for good."""


@dataclass(frozen=True)
class Revealed:
    field: str
    #: "revealed", "erased", "withheld" (another organisation's data) or "unavailable".
    state: str
    value: str | None = None


def _wrapper(key: WrappingKey) -> KeyWrapper:
    return open_wrapper(key.backend, key.reference)


def wrapping_key_current() -> WrappingKey:
    """The wrapping key new subjects go under; created in the configured key store once."""
    key = WrappingKey.objects.filter(backend=settings.KEY_BACKEND).order_by("-created_at").first()
    if key is None:
        label = f"personal-data-{timezone.now():%Y%m%d%H%M%S}"
        reference, _ = backend(settings.KEY_BACKEND).create_wrapping_key(label=label)
        key = WrappingKey.objects.create(backend=settings.KEY_BACKEND, reference=reference)
    return key


def period_name_for(moment: datetime) -> str:
    """The retention period a moment falls in under settings.PERSONAL_DATA_RETENTION."""
    policy = settings.PERSONAL_DATA_RETENTION
    if policy == "month":
        return f"{moment:%Y-%m}"
    if policy == "quarter":
        return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"
    if policy == "year":
        return f"{moment.year}"
    return ""


def period_open(*, name: str) -> RetentionPeriod:
    period = RetentionPeriod.objects.filter(name=name).first()
    if period is not None:
        if period.shredded_at:
            raise ValidationError({"period": [f"The retention period {name} was shredded."]})
        return period
    key = wrapping_key_current()
    wrapped = _wrapper(key).wrap(crypto.new_key())
    period, _ = RetentionPeriod.objects.get_or_create(
        name=name, defaults={"wrapping_key": key, "wrapped_key": wrapped}
    )
    return period


def _period_key(period: RetentionPeriod) -> bytes:
    if period.shredded_at or not bytes(period.wrapped_key):
        raise Erased(f"retention period {period.name} was shredded")
    try:
        return _wrapper(period.wrapping_key).unwrap(bytes(period.wrapped_key))
    except WrappedKeyInvalid as exc:
        raise Erased(f"retention period {period.name}: {exc}") from exc


def _subject_key(subject: DataSubject) -> bytes:
    wrapped = bytes(subject.wrapped_key)
    if subject.forgotten_at or not wrapped:
        raise Erased(f"data subject {subject.id} was erased")
    if subject.period is not None:
        try:
            wrapped = crypto.unlayer(_period_key(subject.period), str(subject.id), wrapped)
        except crypto.Unreadable as exc:
            raise Erased(str(exc)) from exc
    try:
        return _wrapper(subject.wrapping_key).unwrap(wrapped)
    except WrappedKeyInvalid as exc:
        raise Erased(f"data subject {subject.id}: {exc}") from exc


def _subject_new(organisation: Organisation) -> tuple[DataSubject, bytes]:
    key = wrapping_key_current()
    data_key = crypto.new_key()
    subject = DataSubject(organisation=organisation, wrapping_key=key)
    wrapped = _wrapper(key).wrap(data_key)
    name = period_name_for(timezone.now())
    if name:
        subject.period = period_open(name=name)
        wrapped = crypto.layer(_period_key(subject.period), str(subject.id), wrapped)
    subject.wrapped_key = wrapped
    subject.save()
    return subject, data_key


def check_personal_fields(values: dict[str, Any]) -> dict[str, str]:
    """The personal fields, trimmed; a ValidationError names each bad one."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, str] = {}
    for field, value in values.items():
        if field not in PERSONAL_FIELDS:
            names = ", ".join(PERSONAL_FIELDS)
            errors[field] = [f"Not a personal field; the personal fields are {names}."]
        elif not isinstance(value, str) or not value.strip():
            errors[field] = ["Give a non-empty text."]
        elif len(value) > MAX_VALUE_LENGTH:
            errors[field] = [f"At most {MAX_VALUE_LENGTH} characters."]
        elif field == "contact_email" and not _EMAIL.fullmatch(value.strip()):
            errors[field] = ["Not an e-mail address."]
        else:
            clean[field] = value.strip()
    if errors:
        raise ValidationError(errors)
    return clean


def personal_seal(
    *, organisation: Organisation, values: dict[str, Any], subject_id: str = ""
) -> dict[str, dict[str, str]]:
    """Seal personal fields for a data subject (a new one unless `subject_id` names one of
    the organisation's) and return the references that stand in for them:
    {field: {"subject": id, "commitment": salted hash}}. Runs in the caller's transaction;
    a key-store outage raises ValidationError and stores nothing."""
    clean = check_personal_fields(values)
    if not clean:
        return {}
    try:
        with transaction.atomic():
            if subject_id:
                subject = _subject_of(organisation, subject_id)
                data_key = _subject_key(subject)
            else:
                subject, data_key = _subject_new(organisation)
            refs: dict[str, dict[str, str]] = {}
            for field, value in sorted(clean.items()):
                sealed = crypto.seal(data_key, str(subject.id), field, value)
                PersonalValue.objects.create(
                    subject=subject,
                    field=field,
                    ciphertext=sealed.ciphertext,
                    commitment=sealed.commitment,
                )
                refs[field] = {"subject": str(subject.id), "commitment": sealed.commitment}
            return refs
    except KeyStoreUnavailable as exc:
        log.warning("sealing personal data for %s: key store unavailable: %s", organisation, exc)
        raise ValidationError(  # the detail (paths, vault addresses) stays in the server log
            {
                "personal": [
                    "Personal data cannot be stored now (key store unavailable; retry later)."
                ]
            }
        ) from exc
    except Erased as exc:
        raise ValidationError({"data_subject": [str(exc)]}) from exc


def _subject_of(organisation: Organisation, subject_id: str) -> DataSubject:
    try:
        subject = DataSubject.objects.select_related("period", "wrapping_key").get(
            id=subject_id, organisation=organisation
        )
    except (DataSubject.DoesNotExist, ValidationError, ValueError):
        raise ValidationError(
            {"data_subject": [f"{organisation.name} has no data subject {subject_id!r}."]}
        ) from None
    return subject


def personal_reveal(
    *,
    refs: dict[str, Any],
    organisation: Organisation | None,
    user: User = None,
    purpose: str,
) -> list[Revealed]:
    """Open the personal fields behind `refs` for a reader of `organisation`. Only the
    organisation that recorded the subject may read it; every read is logged."""
    revealed: list[Revealed] = []
    subjects: dict[str, DataSubject | None] = {}
    keys: dict[str, bytes | str] = {}
    actor = user if isinstance(user, get_user_model()) else None
    for field, ref in sorted(refs.items()):
        subject_id = str(ref.get("subject", "")) if isinstance(ref, dict) else ""
        if subject_id not in subjects:
            subjects[subject_id] = (
                DataSubject.objects.select_related("period", "wrapping_key")
                .filter(id=subject_id)
                .first()
                if _is_uuid(subject_id)
                else None
            )
        subject = subjects[subject_id]
        if subject is None or organisation is None or subject.organisation_id != organisation.id:
            revealed.append(Revealed(field, "withheld"))
            continue
        if subject_id not in keys:
            try:
                keys[subject_id] = _subject_key(subject)
            except Erased:
                keys[subject_id] = "erased"
            except KeyStoreUnavailable:
                keys[subject_id] = "unavailable"
        key = keys[subject_id]
        state, value = (key, None) if isinstance(key, str) else _open(subject, field, ref, key)
        PersonalDataAccess.objects.create(
            subject_id=subject.id,
            field=field,
            user=actor,
            organisation=organisation,
            purpose=purpose[:200],
            outcome=state,
        )
        revealed.append(Revealed(field, state, value))
    return revealed


def _open(subject: DataSubject, field: str, ref: dict[str, Any], key: bytes) -> tuple[str, Any]:
    row = PersonalValue.objects.filter(
        subject=subject, field=field, commitment=ref.get("commitment", "")
    ).first()
    if row is None:
        return "erased", None
    try:
        value = crypto.unseal(key, str(subject.id), field, bytes(row.ciphertext), row.commitment)
    except crypto.Unreadable:
        return "erased", None
    return "revealed", value


def _is_uuid(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F-]{36}", value))


def subject_forget(*, subject_id: str, organisation: Organisation | None = None) -> DataSubject:
    """Erase a data subject: overwrite its wrapped data key. Irreversible; idempotent."""
    query = DataSubject.objects.filter(id=subject_id) if _is_uuid(subject_id) else None
    if query is not None and organisation is not None:
        query = query.filter(organisation=organisation)
    subject = query.first() if query is not None else None
    if subject is None:
        raise ValidationError({"subject": [f"No data subject {subject_id!r}."]})
    with transaction.atomic():
        DataSubject.objects.filter(id=subject.id).update(
            wrapped_key=b"", forgotten_at=subject.forgotten_at or timezone.now()
        )
    subject.refresh_from_db()
    return subject


def period_shred(*, name: str) -> RetentionPeriod:
    """Shred a retention period: every subject recorded in it becomes unreadable at once."""
    period = RetentionPeriod.objects.filter(name=name).first()
    if period is None:
        raise ValidationError({"period": [f"No retention period {name!r}."]})
    RetentionPeriod.objects.filter(id=period.id).update(
        wrapped_key=b"", shredded_at=period.shredded_at or timezone.now()
    )
    period.refresh_from_db()
    return period


def personal_json(
    document: dict[str, Any] | None,
    *,
    organisation: Organisation | None,
    user: User = None,
    purpose: str,
) -> dict[str, dict[str, Any]]:
    """The personal fields of a metadata document as a reader sees them:
    {field: {"state": revealed|erased|withheld|unavailable, "value": … when revealed}}."""
    refs = (document or {}).get("personal") or {}
    if not isinstance(refs, dict) or not refs:
        return {}
    return {
        r.field: {"state": r.state, **({"value": r.value} if r.state == "revealed" else {})}
        for r in personal_reveal(refs=refs, organisation=organisation, user=user, purpose=purpose)
    }


def personal_discard(*, refs: dict[str, Any]) -> int:
    """Remove personal values sealed for a record that never came to be (its operation
    failed), and the subjects left with no value: their wrapped keys go with them. A subject
    that still has other values keeps its key. Returns the number of values removed."""
    removed = 0
    subjects: set[uuid.UUID] = set()
    for ref in refs.values():
        if not isinstance(ref, dict) or not _is_uuid(str(ref.get("subject", ""))):
            continue
        try:
            subject_id = uuid.UUID(str(ref["subject"]))
        except ValueError:  # 36 characters of hex and dashes, but not a UUID
            continue
        subjects.add(subject_id)
        removed += PersonalValue.objects.filter(
            subject_id=subject_id, commitment=str(ref.get("commitment", ""))
        ).delete()[0]
    DataSubject.objects.filter(id__in=subjects, values__isnull=True).delete()
    return removed
