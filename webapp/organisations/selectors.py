"""Reads of organisations."""

from __future__ import annotations

from typing import Any

from webapp.organisations.models import Organisation


def organisation_of_user(user: Any) -> Organisation | None:
    """The organisation a person belongs to (None for staff outside any organisation)."""
    membership = getattr(user, "membership", None)
    return membership.organisation if membership is not None else None
