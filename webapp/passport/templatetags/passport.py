"""Template helpers of the passport pages (`{% load passport %}`); numbers, quantities,
figures and times go through `{% load formatting %}`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils.safestring import SafeString

from webapp.formatting.tags import day

register = template.Library()


@register.filter
def get(mapping: dict[str, Any] | None, key: Any) -> Any:
    """mapping[key], or None (a label the file does not carry)."""
    return mapping.get(key) if mapping else None


@register.filter
def iso_day(value: str | None) -> SafeString | str:
    """An ISO 8601 instant as written in a proof file ("2026-12-02T13:05:00+00:00") shown
    as a date; what is not one is shown as it is."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value or "")
    return day(moment)
