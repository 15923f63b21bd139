"""Serializer fields bounded to what the contracts hold (numbers in webapp/limits.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from webapp.limits import (
    EARLIEST_CERTIFICATE_DATE,
    LATEST_CERTIFICATE_DATE,
    MAX_CO2E_G_PER_UNIT,
    MAX_PERSONAL_FIELD_LENGTH,
    MAX_PERSONAL_FIELDS,
    MAX_RECYCLED_PERMILLE,
    id_bounds,
    quantity_bounds,
)


def printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()


def id_field(**kwargs: Any) -> serializers.IntegerField:
    """A lot, bundle, handoff or certificate id: uint256 on chain."""
    return serializers.IntegerField(**id_bounds(), **kwargs)


def quantity_field(**kwargs: Any) -> serializers.IntegerField:
    """A quantity in base units: at least one, at most what the Lots contract holds
    (uint240)."""
    return serializers.IntegerField(**quantity_bounds(), **kwargs)


#: A GS1 batch/lot number (AI 10) has at most 20 characters (the lot service checks it too).
GS1_BATCH_LENGTH = 20
#: ... drawn from GS1's AI encodable character set 82 (no spaces, no accents).
GS1_BATCH_PATTERN = r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]*$"
#: A validator's message is %-formatted with the value, so its "%" is written "%%".
GS1_BATCH_MESSAGE = (
    "A batch/lot number holds letters, digits and !\"%%&'()*+,-./:;<=>?_ only "
    "(GS1 character set 82; no spaces)."
)


def gs1_digits_field(*lengths: int, **kwargs: Any) -> serializers.RegexField:
    """A GS1 code, or blank: ASCII digits only (Unicode digits such as '²' are not numbers
    here), in one of the code's `lengths`. The service checks the check digit."""
    alternatives = "|".join(f"[0-9]{{{n}}}" for n in lengths)
    counts = ", ".join(str(n) for n in lengths)
    return serializers.RegexField(
        rf"^(?:{alternatives})?$",
        max_length=max(lengths),
        allow_blank=True,
        default="",
        required=False,
        error_messages={"invalid": f"Give {counts} ASCII digits (0-9)."},
        **kwargs,
    )


class ClaimsInput(serializers.Serializer[Any]):
    co2e_g_per_unit = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_CO2E_G_PER_UNIT
    )
    recycled_permille = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_RECYCLED_PERMILLE
    )


#: Claims a certificate may carry, with their ranges.
CERTIFIED_CLAIM_RANGES = {
    "CO2E_G_PER_UNIT": MAX_CO2E_G_PER_UNIT,
    "RECYCLED_PERMILLE": MAX_RECYCLED_PERMILLE,
}


def certificate_date(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST_CERTIFICATE_DATE <= value <= LATEST_CERTIFICATE_DATE:
        raise serializers.ValidationError(
            f"Give a date between {EARLIEST_CERTIFICATE_DATE:%Y-%m-%d} and"
            f" {LATEST_CERTIFICATE_DATE:%Y-%m-%d}."
        )
    return value


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            key: {"type": "integer", "minimum": 0, "maximum": top}
            for key, top in CERTIFIED_CLAIM_RANGES.items()
        },
        "additionalProperties": False,
    }
)
class CertifiedClaimsField(serializers.DictField):
    """The claims a certificate states (the serializer checks the keys and ranges)."""

    def __init__(self, **kwargs: Any) -> None:
        top = max(CERTIFIED_CLAIM_RANGES.values())
        super().__init__(child=serializers.IntegerField(min_value=0, max_value=top), **kwargs)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": MAX_PERSONAL_FIELD_LENGTH},
        "maxProperties": MAX_PERSONAL_FIELDS,
    }
)
class PersonalFieldsField(serializers.DictField):
    """Personal data by field name (the serializer checks the count)."""

    def __init__(self, **kwargs: Any) -> None:
        child = serializers.CharField(max_length=MAX_PERSONAL_FIELD_LENGTH)
        super().__init__(child=child, **kwargs)
