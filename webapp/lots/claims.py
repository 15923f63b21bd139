"""A lot's sustainability claims: what its producer declared beside what certifiers
certified."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from webapp.certificates.selectors import certificate_status
from webapp.formatting.labels import CLAIMS, ascii_name, claim_label, claim_value
from webapp.lots.selectors import LotDetail


@dataclass(frozen=True)
class Certified:
    """A certified figure and who stands behind it."""

    figure: str
    issuer: str
    certificate_id: int


@dataclass(frozen=True)
class ClaimFigures:
    """One sustainability claim of a lot: what its producer declared in the lot's metadata
    (no one checked it) and what certifiers certified (valid certificates only)."""

    label: str
    declared: str
    certified: list[Certified]
    lapsed: bool = False  # certified once, but every such certificate is revoked or expired


def lot_claims(*, detail: LotDetail, names: dict[str, str], now: datetime) -> list[ClaimFigures]:
    """Each claim the portal knows (carbon footprint, recycled content) for a lot: the
    producer's declaration beside the certified figures, in the lot's unit."""
    unit = detail.metadata.unit if detail.metadata else ""
    declared = (detail.metadata.document.get("claims") or {}) if detail.metadata else {}
    lines = []
    for key in CLAIMS:
        value = next((v for k, v in declared.items() if ascii_name(k).upper() == key), None)
        certified = [
            Certified(
                figure=claim_value(key, v, unit),
                issuer=names.get(c.issuer, c.issuer),
                certificate_id=int(c.certificate_id),
            )
            for c in detail.certificates
            if certificate_status(c, now) == "valid"
            for k, v in (c.claims or {}).items()
            if ascii_name(k).upper() == key
        ]
        ever = any(
            ascii_name(k).upper() == key for c in detail.certificates for k in (c.claims or {})
        )
        lines.append(
            ClaimFigures(
                label=claim_label(key),
                declared="" if value is None else claim_value(key, value, unit),
                certified=certified,
                lapsed=ever and not certified,
            )
        )
    return lines
