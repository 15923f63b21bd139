"""Reads of organisations."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from webapp.organisations.models import ApiToken, Organisation


def organisation_of_user(user: Any) -> Organisation | None:
    """The organisation a person belongs to (None for staff outside any organisation)."""
    membership = getattr(user, "membership", None)
    return membership.organisation if membership is not None else None


def member_is_admin(user: Any) -> bool:
    """Whether a person administers their organisation (manages its API tokens)."""
    membership = getattr(user, "membership", None)
    return bool(membership is not None and membership.is_admin)


def api_token_list(*, organisation: Organisation) -> QuerySet[ApiToken]:
    """The organisation's API tokens, newest first (live, expired and revoked)."""
    return ApiToken.objects.filter(organisation=organisation).order_by("-created_at")
