"""Onboarding: create an organisation, create its key in a key store, register it on chain
(an operation signed by the consortium operator's key), invite its people, issue API
tokens for its systems."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.text import slugify

from contracts.chain.domain import Role
from contracts.custody.keystore import KeyStoreUnavailable
from webapp.organisations.keys import backend
from webapp.organisations.models import ApiToken, Member, Organisation, OrganisationKey
from webapp.organisations.selectors import time_zones

User = AbstractBaseUser | AnonymousUser | None


def organisation_create(*, name: str, roles: Role, slug: str = "") -> Organisation:
    slug = slug or slugify(name)
    if not name.strip() or not slug:
        raise ValidationError({"name": ["Give the organisation a name."]})
    if Organisation.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": [f"An organisation {slug!r} already exists."]})
    if not int(roles) or int(roles) & ~sum(int(r) for r in Role):
        raise ValidationError({"roles": ["Choose at least one role."]})
    return Organisation.objects.create(
        name=name.strip(), slug=slug, roles=int(roles), key_backend=settings.KEY_BACKEND
    )


def organisation_adopt_key(
    *, organisation: Organisation, backend_name: str, reference: str, address: str
) -> None:
    """Make a key already in a key store the organisation's current signing key."""
    with transaction.atomic():
        organisation.key_backend = backend_name
        organisation.address = address
        organisation.save(update_fields=["key_backend", "address"])
        OrganisationKey.objects.create(
            organisation=organisation,
            backend=backend_name,
            reference=reference,
            address=address,
            status=OrganisationKey.Status.ACTIVE,
        )


def key_generate(*, organisation: Organisation, backend_name: str = "") -> tuple[str, str, str]:
    """Generate a new signing key for the organisation in a key store (its chosen one by
    default); returns (backend name, reference, address). Nothing is recorded yet."""
    backend_name = backend_name or organisation.key_backend
    if backend_name not in settings.KEY_STORE_BACKENDS:
        names = ", ".join(sorted(settings.KEY_STORE_BACKENDS))
        raise ValidationError({"key_backend": [f"No key store {backend_name!r} ({names})."]})
    # The slug and a random suffix: a key store may be shared by several deployments, and
    # a rotation adds keys.
    label = f"{organisation.slug}-{secrets.token_hex(4)}"
    try:
        reference, store = backend(backend_name).create(label=label)
        return backend_name, reference, store.address
    except KeyStoreUnavailable as exc:
        raise ValidationError({"__all__": [f"The {backend_name} key store failed: {exc}"]}) from exc


def organisation_create_key(*, organisation: Organisation, backend_name: str = "") -> str:
    """Generate the organisation's signing key inside its key store; returns the address."""
    if organisation.address:
        raise ValidationError({"__all__": [f"{organisation.name} already has a key."]})
    backend_name, reference, address = key_generate(
        organisation=organisation, backend_name=backend_name
    )
    organisation_adopt_key(
        organisation=organisation, backend_name=backend_name, reference=reference, address=address
    )
    return address


def organisation_time_zone_set(*, organisation: Organisation, time_zone: str) -> Organisation:
    """Set the time zone the organisation's members read times in (an IANA name)."""
    if time_zone not in time_zones():
        raise ValidationError(
            {"time_zone": [f"{time_zone[:64]!r} is not a time zone name (e.g. Europe/Oslo)."]}
        )
    organisation.time_zone = time_zone
    organisation.save(update_fields=["time_zone"])
    return organisation


def operator_organisation() -> Organisation:
    """The consortium operator (holds the admin key that onboards and retires addresses)."""
    operator = Organisation.objects.filter(is_operator=True).exclude(address="").first()
    if operator is None:
        raise ValidationError({"__all__": ["No consortium operator with a key is configured."]})
    return operator


def member_invite(
    *,
    organisation: Organisation,
    username: str,
    email: str = "",
    password: str = "",
    is_admin: bool = False,
) -> tuple[AbstractBaseUser, str]:
    """Create a user in the organisation (an organisation admin with `is_admin`). Without
    a password, returns the path of a one-time link where the person sets their own."""
    user_model = get_user_model()
    if not username.strip():
        raise ValidationError({"username": ["Choose a user name."]})
    if user_model.objects.filter(username=username).exists():
        raise ValidationError({"username": [f"The user name {username!r} is taken."]})
    if password:
        try:
            validate_password(password, user_model(username=username, email=email))
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from None
    with transaction.atomic():
        user = user_model.objects.create_user(username=username, email=email)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        Member.objects.create(user=user, organisation=organisation, is_admin=is_admin)
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    link = f"/accounts/reset/{uid}/{default_token_generator.make_token(user)}/"
    return user, link


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


API_TOKEN_MAX_DAYS = 3650


def api_token_create(
    *,
    organisation: Organisation,
    name: str,
    scope: str = ApiToken.Scope.WRITE,
    expires_at: datetime | None = None,
    created_by: User = None,
) -> tuple[str, ApiToken]:
    """A new API token; the plain token is returned once and never stored (only its
    SHA-256 digest is), so whoever shows it must show it once and keep no copy."""
    if not name.strip():
        raise ValidationError({"name": ["Name the token after the system that uses it."]})
    if len(name.strip()) > 100:
        raise ValidationError({"name": ["A token name has at most 100 characters."]})
    if scope not in ApiToken.Scope.values:
        raise ValidationError({"scope": [f"A token's scope is one of {ApiToken.Scope.values}."]})
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise ValidationError({"expires_at": ["The expiry must be in the future."]})
    if expires_at is not None and expires_at > now + timedelta(days=API_TOKEN_MAX_DAYS):
        raise ValidationError({"expires_at": [f"At most {API_TOKEN_MAX_DAYS} days ahead."]})
    token = "pvn_" + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        organisation=organisation,
        name=name.strip(),
        prefix=token[:12],
        digest=_digest(token),
        scope=scope,
        expires_at=expires_at,
        created_by=created_by if isinstance(created_by, get_user_model()) else None,
    )
    return token, row


#: How fresh a token's "last used" is kept (the token list shows it to the minute).
LAST_USE_PRECISION = timedelta(minutes=1)


def api_token_authenticate(*, token: str) -> ApiToken | None:
    """The live token (not revoked, not expired) behind a plain token, or None."""
    now = timezone.now()
    row = (
        ApiToken.objects.select_related("organisation")
        .filter(digest=_digest(token), revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if row is not None and (
        row.last_used_at is None or now - row.last_used_at >= LAST_USE_PRECISION
    ):
        # At most once per LAST_USE_PRECISION: a partner polling many times a second would
        # otherwise write (and lock) its token's one row on every request.
        ApiToken.objects.filter(pk=row.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USE_PRECISION)
        ).update(last_used_at=now)
    return row


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_revoke_for(*, organisation: Organisation, token_id: int) -> ApiToken:
    """Revoke one of the organisation's own tokens; another organisation's token is
    refused exactly like a token that does not exist."""
    row = ApiToken.objects.filter(organisation=organisation, pk=token_id).first()
    if row is None:
        raise ApiToken.DoesNotExist(f"{organisation.name} has no API token {token_id}.")
    api_token_revoke(token=row)
    row.refresh_from_db()
    return row
