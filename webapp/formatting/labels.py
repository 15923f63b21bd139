"""Words for the chain's constants: certificate types and claim keys.

The chain stores short ASCII names ("CARBON_FOOTPRINT", "CO2E_G_PER_UNIT"; as bytes32 in
events and the mirror), and a lot's declared claims use the same keys in lower case. A
person reads the words below; the forms offer them, pages, titles and exports show them.
"""

from __future__ import annotations

from webapp.formatting import co2e_per_unit, number, permille

#: Certificate types the portal offers (the chain accepts any 32-byte ASCII name).
CERTIFICATE_TYPES: dict[str, str] = {
    "QUALITY": "Quality",
    "CARBON_FOOTPRINT": "Carbon footprint",
    "RECYCLED_CONTENT": "Recycled content",
    "RESPONSIBLE_SOURCING": "Responsible sourcing (due diligence)",
}
#: Claim keys, certified (upper case) or declared by a lot's producer (lower case).
CLAIMS: dict[str, str] = {
    "CO2E_G_PER_UNIT": "Carbon footprint",
    "RECYCLED_PERMILLE": "Recycled content",
}


def ascii_name(value: str) -> str:
    """A short name as stored: "CARBON_FOOTPRINT" or its bytes32 hex ("0x4341…00")."""
    text = (value or "").strip()
    if text.startswith("0x") and len(text) == 66:
        try:
            return bytes.fromhex(text[2:]).rstrip(b"\0").decode("ascii")
        except (ValueError, UnicodeDecodeError):
            return text
    return text


def _fallback(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


def certificate_type_label(value: str) -> str:
    """ "CARBON_FOOTPRINT" (or its bytes32 hex) → "Carbon footprint"."""
    name = ascii_name(value)
    return CERTIFICATE_TYPES.get(name.upper()) or _fallback(name)


def claim_label(key: str) -> str:
    """ "co2e_g_per_unit" / "CO2E_G_PER_UNIT" (or hex) → "Carbon footprint"."""
    name = ascii_name(key)
    return CLAIMS.get(name.upper()) or _fallback(name)


def claim_value(key: str, value: object, unit: str = "") -> str:
    """A claim's figure in the lot's unit: "1.2 kg CO2e per kg", "85.0%"."""
    name = ascii_name(key).upper()
    if name == "CO2E_G_PER_UNIT":
        return co2e_per_unit(value, unit)
    if name == "RECYCLED_PERMILLE":
        return permille(value)
    return number(value)


def claim_lines(claims: dict[str, object] | None, unit: str = "") -> list[tuple[str, str]]:
    """(label, figure) for each claim, in the order of `CLAIMS` then any other key."""
    items = list((claims or {}).items())
    order = list(CLAIMS)
    items.sort(key=lambda kv: order.index(n) if (n := ascii_name(kv[0]).upper()) in order else 99)
    return [(claim_label(k), claim_value(k, v, unit)) for k, v in items]
