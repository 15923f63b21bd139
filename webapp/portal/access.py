"""Who is asking: the organisation behind a portal request."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from webapp.organisations.models import Organisation
from webapp.organisations.selectors import member_is_admin, organisation_of_user


def organisation_of(request: HttpRequest) -> Organisation:
    organisation = organisation_of_user(request.user)
    if organisation is None:
        raise PermissionDenied("Your account does not belong to an organisation.")
    return organisation


def organisation_admin_of(request: HttpRequest) -> Organisation:
    """The organisation of a person who administers it (manages its API tokens)."""
    organisation = organisation_of(request)
    if not member_is_admin(request.user):
        raise PermissionDenied(f"Only {organisation.name}'s admins manage its API tokens.")
    return organisation
