"""Who is asking: the organisation behind a portal request."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_of_user


def organisation_of(request: HttpRequest) -> Organisation:
    organisation = organisation_of_user(request.user)
    if organisation is None:
        raise PermissionDenied("Your account does not belong to an organisation.")
    return organisation
