"""The formatting layer in templates: `{% load formatting %}`, then

{{ lot.quantity|quantity:lot.unit }}   "2 t", "500 units"
{{ grams|co2e }}                       "1.2 kg CO2e"
{{ grams|co2e_per_unit:lot.unit }}     "1.2 kg CO2e per kg"
{{ share|percent }}                    "85.0%"
{{ value|permille }}                   "85.0%"
{{ value|number }}                     "2,000,000"
{{ moment|when }}                      <time> in the reader's zone, ISO on hover
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from webapp import formatting
from webapp.formatting import labels

register = template.Library()

register.filter("quantity", formatting.quantity)
register.filter("co2e", formatting.co2e)
register.filter("co2e_per_unit", formatting.co2e_per_unit)
register.filter("percent", formatting.percent)
register.filter("permille", formatting.permille)
register.filter("mass", formatting.mass)


@register.filter("number")
def number(value: Any) -> str:
    return formatting.number(value)


@register.filter("when")
def when(moment: datetime | None) -> SafeString | str:
    """The instant in the active (reader's) time zone, the exact ISO instant on hover."""
    if not isinstance(moment, datetime):
        return ""
    text = formatting.when(moment, timezone.get_current_timezone_name())
    stamp = formatting.iso(moment)
    return format_html('<time datetime="{}" title="{}">{}</time>', stamp, stamp, text)


@register.filter("day")
def day(moment: datetime | None) -> SafeString | str:
    if not isinstance(moment, datetime):
        return ""
    text = formatting.day(moment, timezone.get_current_timezone_name())
    stamp = formatting.iso(moment)
    return format_html('<time datetime="{}" title="{}">{}</time>', stamp, stamp, text)


# Words for the chain's constants (webapp.formatting.labels).
register.filter("certificate_type", labels.certificate_type_label)
register.filter("claim_label", labels.claim_label)


@register.filter("claims")
def claims(values: dict[str, object] | None, unit: str = "") -> list[tuple[str, str]]:
    """A claims mapping as (label, figure) pairs:
    {% for label, figure in c.claims|claims:unit %}."""
    return labels.claim_lines(values, unit)
