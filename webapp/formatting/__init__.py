"""One way to write numbers, quantities, figures, shares and times for people.

Pages, CSV exports and the public passport all go through these functions (templates
through the `formatting` tag library in `webapp.formatting.tags`), so a figure reads the
same everywhere:

- quantities keep their unit; masses move to the unit that keeps the number readable
  (2,000,000 g → "2 t", 400 kg → "400 kg"); counts are grouped ("12,500 units");
- carbon figures are masses of CO2e ("1.2 kg CO2e", "9 t CO2e");
- shares are percentages with one decimal ("85.0%"); a per-mille figure is a share too;
- times are shown in the reader's time zone with the zone's name, and the exact ISO 8601
  instant goes alongside (`iso`) for a hover title or a machine.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Mass units, in grams.
MASS_UNITS: dict[str, Decimal] = {
    "mg": Decimal("0.001"),
    "g": Decimal(1),
    "kg": Decimal(1000),
    "t": Decimal(1_000_000),
}
#: Spellings people use for the mass units above.
MASS_ALIASES: dict[str, str] = {
    "gram": "g",
    "grams": "g",
    "kilogram": "kg",
    "kilograms": "kg",
    "kgs": "kg",
    "tonne": "t",
    "tonnes": "t",
    "ton": "t",
    "tons": "t",
    "milligram": "mg",
    "milligrams": "mg",
}
#: The units a mass is shown in, largest first (mg only for less than a gram).
_MASS_LADDER = ("t", "kg", "g", "mg")
#: Units that are counts of things: shown with a plural.
COUNT_UNITS: dict[str, tuple[str, str]] = {
    "unit": ("unit", "units"),
    "units": ("unit", "units"),
    "pcs": ("pc", "pcs"),
    "pc": ("pc", "pcs"),
    "piece": ("piece", "pieces"),
    "pieces": ("piece", "pieces"),
    "item": ("item", "items"),
    "items": ("item", "items"),
}
#: Significant decimals kept for a scaled quantity ("1.25 t").
MAX_DECIMALS = 3


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def number(value: object, decimals: int | None = None) -> str:
    """`value` with thousands grouped ("2,000,000"); `decimals` fixes the decimals,
    otherwise up to three are kept and trailing zeros dropped. Not a number: ""."""
    amount = _decimal(value)
    if amount is None:
        return ""
    if decimals is not None:
        amount = amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN)
        return f"{amount:,.{decimals}f}"
    amount = amount.quantize(Decimal(1).scaleb(-MAX_DECIMALS), rounding=ROUND_HALF_EVEN)
    text = f"{amount:,.{MAX_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def mass_unit(unit: str) -> str | None:
    """The mass unit `unit` names ("kg", "tonnes" → "t"), or None when it is no mass."""
    key = (unit or "").strip().lower()
    key = MASS_ALIASES.get(key, key)
    return key if key in MASS_UNITS else None


def mass(grams: object, suffix: str = "") -> str:
    """A mass given in grams in the unit that reads best: "850 g", "1.2 kg", "9 t"."""
    amount = _decimal(grams)
    if amount is None:
        return ""
    size = abs(amount)
    for unit in _MASS_LADDER:
        if size >= MASS_UNITS[unit] or (unit == "g" and size == 0):
            break
    else:
        unit = "mg"
    text = f"{number(amount / MASS_UNITS[unit])} {unit}"
    return f"{text} {suffix}" if suffix else text


def quantity(value: object, unit: str) -> str:
    """A lot's quantity with its unit: masses scaled ("2 t"), counts pluralised
    ("1 unit", "500 units"), any other unit as written ("12 m")."""
    amount = _decimal(value)
    if amount is None:
        return ""
    grams_per_unit = MASS_UNITS.get(mass_unit(unit) or "")
    if grams_per_unit is not None:
        return mass(amount * grams_per_unit)
    forms = COUNT_UNITS.get((unit or "").strip().lower())
    if forms is not None:
        return f"{number(amount)} {forms[0] if amount == 1 else forms[1]}"
    return f"{number(amount)} {unit}".strip()


def unit_name(unit: str) -> str:
    """`unit` as it reads after "per": "kg", "unit"."""
    forms = COUNT_UNITS.get((unit or "").strip().lower())
    return forms[0] if forms else (mass_unit(unit) or unit or "unit")


def co2e(grams: object) -> str:
    """A carbon figure in grams of CO2e: "1.2 kg CO2e"."""
    return mass(grams, "CO2e")


def co2e_per_unit(grams: object, unit: str) -> str:
    """A footprint per unit of a lot: "1.2 kg CO2e per kg"."""
    text = co2e(grams)
    return f"{text} per {unit_name(unit)}" if text else ""


def percent(share: object, decimals: int = 1) -> str:
    """A share between 0 and 1 as a percentage: 0.85 → "85.0%"."""
    amount = _decimal(share)
    if amount is None:
        return ""
    return f"{number(amount * 100, decimals)}%"


def permille(value: object, decimals: int = 1) -> str:
    """A per-mille figure (the chain's recycled share) as a percentage: 850 → "85.0%"."""
    amount = _decimal(value)
    return "" if amount is None else percent(amount / 1000, decimals)


def zone(name: str | None) -> ZoneInfo:
    """The time zone called `name`, UTC when it is empty or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def when(moment: datetime | None, time_zone: str | None = None) -> str:
    """An instant for people, in `time_zone`: "2 Dec 2026, 14:05 CET". Naive values are
    taken as UTC."""
    if moment is None:
        return ""
    local = _aware(moment).astimezone(zone(time_zone))
    return f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def day(moment: datetime | None, time_zone: str | None = None) -> str:
    """The date of an instant in `time_zone`: "2 Dec 2026"."""
    if moment is None:
        return ""
    local = _aware(moment).astimezone(zone(time_zone))
    return f"{local.day} {local:%b %Y}"


def iso(moment: datetime | None) -> str:
    """The exact instant in ISO 8601, UTC: "2026-12-02T13:05:00Z"."""
    if moment is None:
        return ""
    return _aware(moment).astimezone(ZoneInfo("UTC")).isoformat().replace("+00:00", "Z")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo("UTC"))
