"""Reads about lots' GS1 identities: a lot's key (GTIN + batch/lot from its metadata, or a
bundle's SSCC) and the lot a key names, among lots the mirror holds."""

from __future__ import annotations

from django.conf import settings

from webapp.gs1 import Gs1Error, Gs1Key, parse_element_string, sscc
from webapp.lots.models import LotMetadata
from webapp.organisations.selectors import gs1_company_prefixes
from webapp.projections.models import LotVersion


def metadata_gs1_key(metadata: LotMetadata) -> Gs1Key | None:
    """The GS1 key a lot was registered with: its `(01)…(10)…` element string, or the
    SSCC of a bundle (kept in the bundle's document). None without one."""
    try:
        if metadata.gs1_key:
            return parse_element_string(metadata.gs1_key)
        if metadata.document.get("sscc"):
            return sscc(str(metadata.document["sscc"]))
    except Gs1Error:
        return None  # stored before keys were checked: no identity rather than a wrong one
    return None


def lot_gs1_key(*, lot_id: int) -> Gs1Key | None:
    metadata = LotMetadata.objects.filter(chain_id=settings.CHAIN_ID, lot_id=lot_id).first()
    return metadata_gs1_key(metadata) if metadata is not None else None


def lot_by_gs1_key(*, key: Gs1Key) -> LotMetadata | None:
    """The lot `key` names, on this deployment's chain: a GTIN with its batch/lot (or an
    SSCC) that a lot on the chain was registered with; the first such lot when several
    were (a batch registered twice). A metadata document whose lot never reached the
    chain names nothing."""
    rows = LotMetadata.objects.filter(chain_id=settings.CHAIN_ID)
    if key.ai == "00":
        rows = rows.filter(document__sscc=key.key)
    elif key.ai == "01" and (key.lot or key.serial):
        # A serial under a lot names an item of that lot; a bare serial names a lot only
        # if one was registered with that serial.
        element = Gs1Key("01", key.key, lot=key.lot, serial="" if key.lot else key.serial)
        rows = rows.filter(gs1_key=element.element_string)
    else:
        return None
    on_chain = LotVersion.objects.filter(chain_id=settings.CHAIN_ID).values("lot_id")
    return rows.filter(lot_id__in=on_chain).order_by("lot_id").first()


def epc_identifier(key: Gs1Key) -> str:
    """How EPCIS names `key`: its EPC URN when a registered company prefix splits it,
    else its canonical Digital Link URI (EPCIS 2.0 accepts both)."""
    try:
        return key.epc_urn(prefixes=gs1_company_prefixes())
    except Gs1Error:
        return key.digital_link()


def lot_on_chain(*, lot_id: int) -> bool:
    return LotVersion.objects.filter(chain_id=settings.CHAIN_ID, lot_id=lot_id).exists()
