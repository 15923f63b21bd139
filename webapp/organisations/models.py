"""Organisations: the consortium's members, their people, their keys and API tokens.

An organisation is a participant on chain (an address with roles) and a tenant here: every
user belongs to exactly one, and every write it makes is signed by its own key. Its keys
(current, being rotated in, retired) are `OrganisationKey` rows naming a key store and a
reference in it; only the reference lives in the database, the key itself never does.
`key_backend` is the key store the organisation's next key is generated in.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from contracts.chain.domain import Role
from webapp.gs1 import (
    Gs1Error,
    Gs1Key,
    attribute_checked,
    company_prefix_checked,
    gln_checked,
    sgln,
)


def validate_gln(value: str) -> None:
    try:
        gln_checked(value)
    except Gs1Error as exc:
        raise ValidationError(str(exc)) from exc


def validate_company_prefix(value: str) -> None:
    try:
        company_prefix_checked(value)
    except Gs1Error as exc:
        raise ValidationError(str(exc)) from exc


class Organisation(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    #: Role bits (contracts.chain.domain.Role) the organisation holds, or asks for, on chain.
    roles = models.PositiveIntegerField(default=0)
    #: The key store the next key is generated in (the current key's is in its history).
    key_backend = models.CharField(max_length=32, default="keystore")
    address = models.CharField(max_length=42, blank=True)
    #: Holds the consortium admin key: onboards the other organisations on chain.
    is_operator = models.BooleanField(default=False)
    #: IANA time zone the organisation's members read times in (Europe/Oslo, Africa/Lubumbashi).
    time_zone = models.CharField(max_length=64, default="UTC")
    #: The organisation's Global Location Number as a party (13 digits, check digit valid).
    gln = models.CharField("GLN", max_length=13, blank=True, validators=[validate_gln])
    #: The GS1 Company Prefix its GTINs, SSCCs and GLNs start with (6-12 digits): the
    #: longest registered prefix a key starts with says where its EPC URN splits it.
    gs1_company_prefix = models.CharField(
        "GS1 Company Prefix", max_length=12, blank=True, validators=[validate_company_prefix]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["address"], condition=~models.Q(address=""), name="organisation_address"
            ),
            models.UniqueConstraint(
                fields=["gln"], condition=~models.Q(gln=""), name="organisation_gln"
            ),
            models.UniqueConstraint(
                fields=["gs1_company_prefix"],
                condition=~models.Q(gs1_company_prefix=""),
                name="organisation_gs1_company_prefix",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def role_names(self) -> list[str]:
        return [r.name or "" for r in Role if self.roles & r]

    def has_role(self, role: Role) -> bool:
        return bool(self.roles & role)


class OrganisationKey(models.Model):
    """Every signing key an organisation has had: the current one, one being rotated in,
    and retired ones. Past events name old addresses; this keeps them the organisation's."""

    class Status(models.TextChoices):
        PENDING = "pending"  # created, registered on chain, holdings not yet moved
        ACTIVE = "active"
        RETIRED = "retired"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="keys")
    backend = models.CharField(max_length=32)
    reference = models.CharField(max_length=500)
    address = models.CharField(max_length=42, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["organisation", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation"],
                condition=models.Q(status="pending"),
                name="organisation_key_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.organisation}: {self.address} ({self.backend}, {self.status})"


class Member(models.Model):
    """A person's place in an organisation (one organisation per user).

    An organisation admin (`is_admin`) manages the organisation's API tokens in the portal;
    every member can act for the organisation on chain either way."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="members")
    is_admin = models.BooleanField(
        default=False, help_text="Manages the organisation's API tokens in the portal."
    )

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation}"


class ApiToken(models.Model):
    """A partner system's credential: acts as the organisation. Only a digest is stored;
    the plain token is shown once, when it is made.

    A `read` token may only read (GET, HEAD, OPTIONS); a `write` token may also record
    operations. A token past `expires_at` (when set) or revoked authenticates nobody."""

    class Scope(models.TextChoices):
        READ = "read", "read only"
        WRITE = "write", "read and write"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.WRITE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE


def validate_gln_extension(value: str) -> None:
    try:
        attribute_checked(value, "GLN extension")
    except Gs1Error as exc:
        raise ValidationError(str(exc)) from exc


class Site(models.Model):
    """A place an organisation works at (a pit, a plant, a warehouse), named in GS1 terms
    by an SGLN: its own GLN, or the organisation's, with an optional extension (AI 254)
    that tells one spot there from another (a dock, a line)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=200)
    #: The site's own GLN; empty: the organisation's.
    gln = models.CharField("GLN", max_length=13, blank=True, validators=[validate_gln])
    extension = models.CharField(
        "GLN extension", max_length=20, blank=True, validators=[validate_gln_extension]
    )

    class Meta:
        ordering = ["organisation", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="site_name"),
        ]

    def __str__(self) -> str:
        return f"{self.organisation}: {self.name}"

    @property
    def sgln(self) -> Gs1Key | None:
        """The site's GS1 location key (Digital Link /414/{gln}/254/{ext}); None while
        neither it nor its organisation has a GLN."""
        gln = self.gln or self.organisation.gln
        return sgln(gln, self.extension) if gln else None
