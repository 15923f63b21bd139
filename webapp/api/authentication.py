"""Partner systems authenticate with an organisation's API token (`Authorization: Bearer
pvn_…`); people using the docs page in a browser use their portal session.

A token that is unknown, revoked or past its expiry gets 401. A read-only token is refused
(403) on every unsafe method here, before any view runs, so no write view can forget it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from webapp.organisations.models import ApiToken, Organisation
from webapp.organisations.selectors import organisation_of_user
from webapp.organisations.services import api_token_authenticate


class ApiClient:
    """The principal behind an API token: the organisation's system, not a person."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.organisation = token.organisation
        self.pk = None

    def __str__(self) -> str:
        return f"api token {self.token.prefix}… of {self.organisation.slug}"


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiClient, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme != self.keyword or not token.strip():
            raise exceptions.AuthenticationFailed("Use `Authorization: Bearer <API token>`.")
        row = api_token_authenticate(token=token.strip())
        if row is None:
            raise exceptions.AuthenticationFailed("The API token is unknown, revoked or expired.")
        if request.method not in permissions.SAFE_METHODS and not row.can_write:
            raise exceptions.PermissionDenied(
                f"The API token {row.prefix}… is read-only; writes need a read-and-write token."
            )
        return ApiClient(row), row

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "webapp.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An organisation API token"}


def acting_organisation(request: Request) -> Organisation:
    """The organisation a request acts for: the token's, or the logged-in person's."""
    user: Any = request.user
    if isinstance(user, ApiClient):
        return user.organisation
    organisation = organisation_of_user(user)
    if organisation is None:
        raise exceptions.PermissionDenied("This account does not belong to an organisation.")
    return organisation
