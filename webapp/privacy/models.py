"""Personal data, kept off chain and erasable.

Personal fields (contact persons, names, e-mail addresses, postal addresses) never go into
lot metadata, operations, events or the chain as values: they are sealed here per data
subject (see `crypto.py`), and everything else holds a reference — the subject id, the
field name and a salted commitment. A subject's data key is stored only wrapped by a
key-store wrapping key (HSM, Key Vault or the local keystore); erasing the subject
overwrites that wrapped key, after which every sealed value of the subject is noise,
wherever a copy of it went.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

#: The personal fields a lot's metadata may carry (each one sealed, never stored plain).
PERSONAL_FIELDS = {
    "contact_name": "Contact person",
    "contact_email": "Contact e-mail",
    "contact_phone": "Contact phone",
    "postal_address": "Postal address",
}


class WrappingKey(models.Model):
    """A key-encryption key in a key store that wraps data subjects' keys."""

    backend = models.CharField(max_length=32)
    reference = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.backend}:{self.reference}"


class RetentionPeriod(models.Model):
    """A time period whose key is layered over the keys of the subjects recorded in it:
    shredding the period erases all of them at once."""

    name = models.CharField(max_length=100, unique=True)
    wrapping_key = models.ForeignKey(WrappingKey, on_delete=models.PROTECT)
    #: The period's own key, wrapped by `wrapping_key`; emptied when the period is shredded.
    wrapped_key = models.BinaryField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    shredded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name + (" (shredded)" if self.shredded_at else "")


class DataSubject(models.Model):
    """A person whose data an organisation recorded. Nothing here identifies them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="data_subjects"
    )
    wrapping_key = models.ForeignKey(WrappingKey, on_delete=models.PROTECT)
    period = models.ForeignKey(
        RetentionPeriod, null=True, blank=True, on_delete=models.PROTECT, related_name="subjects"
    )
    #: The subject's data key wrapped by `wrapping_key` (and, with a period, sealed again
    #: under the period's key). Overwritten with nothing when the subject is forgotten.
    wrapped_key = models.BinaryField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    forgotten_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"subject {self.id}" + (" (forgotten)" if self.forgotten_at else "")


class PersonalValue(models.Model):
    """One sealed personal field of a subject."""

    subject = models.ForeignKey(DataSubject, on_delete=models.CASCADE, related_name="values")
    field = models.CharField(max_length=64)
    ciphertext = models.BinaryField()
    commitment = models.CharField(max_length=66, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject", "commitment"], name="personal_value_unique")
        ]

    def __str__(self) -> str:
        return f"{self.field} of subject {self.subject_id}"


class PersonalDataAccess(models.Model):
    """Every attempt to read personal data: who, which subject and field, why, when, and
    whether it could still be read."""

    class Outcome(models.TextChoices):
        REVEALED = "revealed"
        ERASED = "erased"
        UNAVAILABLE = "unavailable"  # the key store could not be reached

    subject_id = models.UUIDField(db_index=True)
    field = models.CharField(max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    organisation = models.ForeignKey(
        "organisations.Organisation", null=True, blank=True, on_delete=models.SET_NULL
    )
    purpose = models.CharField(max_length=200)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]
        verbose_name_plural = "personal data accesses"

    def __str__(self) -> str:
        return f"{self.outcome} read of {self.field} of subject {self.subject_id}"
