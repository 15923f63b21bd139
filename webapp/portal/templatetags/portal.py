"""Small template helpers for the portal."""

from __future__ import annotations

import uuid
from typing import Any

from django import template

from webapp import formatting
from webapp.certificates.selectors import certificate_type_name
from webapp.operations.selectors import operation_reason_for_user

register = template.Library()


@register.filter
def get(mapping: dict[str, Any], key: Any) -> Any:
    return mapping.get(key) if mapping else None


@register.simple_tag
def uuid_key() -> str:
    """A fresh idempotency key for a one-button form."""
    return uuid.uuid4().hex


@register.filter
def ascii32(value: str) -> str:
    """A bytes32 hex value holding a short ASCII name (certificate types)."""
    return certificate_type_name(value)


register.filter("percent", formatting.percent)


@register.filter
def user_reason(reason: str) -> str:
    """An operation's error or waiting reason without server paths or key-store detail."""
    return operation_reason_for_user(reason or "")
