"""Reads about lots' GS1 identities: a lot's key (GTIN + batch/lot from its metadata, or a
bundle's SSCC) and the lot a key names, among lots the mirror holds; and how EPCIS names
lots and the organisations that hold them (`lot_identities`, `parties`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from web3 import Web3

from webapp.gs1 import Gs1Error, Gs1Key, parse_element_string, pgln, sscc
from webapp.lots.models import LotMetadata
from webapp.organisations.models import Organisation, OrganisationKey
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


# -- identifiers in EPCIS -------------------------------------------------------------------

#: The prefix of the URIs we mint for lots and parties GS1 keys do not name. A URN, not an
#: address of this site: it must never change with configuration (the site's address, a
#: company prefix registered later), since it is hashed into every event that names it.
URN_PREFIX = "urn:provenant"
#: A lot's unit as its UN/ECE Recommendation 20 code (what EPCIS `uom` takes); a unit not
#: here (piece, unit, bag, ...) counts items, which EPCIS says by giving no `uom`.
UNECE_UNITS = {
    "g": "GRM",
    "gram": "GRM",
    "grams": "GRM",
    "kg": "KGM",
    "kilogram": "KGM",
    "kilograms": "KGM",
    "t": "TNE",
    "tonne": "TNE",
    "tonnes": "TNE",
    "mg": "MGM",
    "l": "LTR",
    "litre": "LTR",
    "litres": "LTR",
    "ml": "MLT",
    "m": "MTR",
    "m2": "MTK",
    "m3": "MTQ",
    "kwh": "KWH",
}
BUNDLE_KIND = 4  # LotKind.BUNDLE


@dataclass(frozen=True)
class LotIdentity:
    """How EPCIS names a lot: `uri` is an EPC (`instance`: an SSCC, an SGTIN, a bundle,
    listed in epcList / parentID / childEPCs) or an EPC class (a batch, listed with a
    quantity in a quantityList); `uom` the UN/ECE code of its unit, "" for a count."""

    uri: str
    instance: bool
    uom: str = ""

    def quantity_element(self, quantity: int | None = None) -> dict[str, Any]:
        """A quantityList element for `quantity` of the lot (the whole class without one)."""
        element: dict[str, Any] = {"epcClass": self.uri}
        if quantity is not None:
            element["quantity"] = quantity
            if self.uom:
                element["uom"] = self.uom
        return element


def unece_unit(unit: str) -> str:
    """The UN/ECE Rec. 20 code of a lot's unit; "" when the unit counts items."""
    return UNECE_UNITS.get(unit.strip().lower(), "")


def lot_urn(*, chain_id: int, lot_id: int) -> str:
    """The URI we mint for a lot no GS1 key names (the lot id is unique per chain)."""
    return f"{URN_PREFIX}:lot:{chain_id}:{lot_id}"


def lot_identity(
    *,
    chain_id: int,
    lot_id: int,
    kind: int | None,
    metadata: LotMetadata | None,
    prefixes: Iterable[str] = (),
) -> LotIdentity:
    """A lot's EPCIS identity from what the mirror knows of it: its GS1 key (an LGTIN
    class, or an SSCC / SGTIN instance) or, without one (no metadata yet, or none given),
    our URN; a bundle is an instance, any other lot a class counted in its unit."""
    uom = unece_unit(metadata.unit) if metadata is not None else ""
    key = metadata_gs1_key(metadata) if metadata is not None else None
    if key is not None and key.kind in ("lgtin", "sgtin", "sscc"):
        try:
            uri = key.epc_urn(prefixes=prefixes)
        except Gs1Error:
            uri = key.digital_link()
        if key.kind == "lgtin":
            return LotIdentity(uri, instance=False, uom=uom)
        return LotIdentity(uri, instance=True)
    if kind == BUNDLE_KIND:
        return LotIdentity(lot_urn(chain_id=chain_id, lot_id=lot_id), instance=True)
    return LotIdentity(lot_urn(chain_id=chain_id, lot_id=lot_id), instance=False, uom=uom)


def lot_identities(
    lot_ids: Iterable[int], *, chain_id: int | None = None
) -> dict[int, LotIdentity]:
    """The EPCIS identity of each lot (three queries for any number of lots)."""
    chain_id = chain_id or settings.CHAIN_ID
    ids = {int(i) for i in lot_ids}
    if not ids:
        return {}
    metadata = {
        int(m.lot_id): m for m in LotMetadata.objects.filter(chain_id=chain_id, lot_id__in=ids)
    }
    kinds = {
        int(lot_id): int(kind)
        for lot_id, kind in LotVersion.objects.filter(chain_id=chain_id, lot_id__in=ids)
        .order_by("block_from")
        .values_list("lot_id", "kind")
    }
    prefixes = gs1_company_prefixes()
    return {
        i: lot_identity(
            chain_id=chain_id,
            lot_id=i,
            kind=kinds.get(i),
            metadata=metadata.get(i),
            prefixes=prefixes,
        )
        for i in ids
    }


def lot_epc(lot_id: int, *, chain_id: int | None = None) -> LotIdentity:
    """The identifier EPCIS uses for lot `lot_id` (see `lot_identity`)."""
    return lot_identities([lot_id], chain_id=chain_id)[int(lot_id)]


def organisation_party(organisation: Organisation, *, prefixes: Iterable[str] = ()) -> str:
    """An organisation as an EPCIS party (source / destination): its PGLN when it has a GLN
    (the EPC URN under a registered company prefix, else the Digital Link URI), else our
    URN of its slug."""
    if organisation.gln:
        try:
            key = pgln(organisation.gln)
        except Gs1Error:
            pass
        else:
            own = [organisation.gs1_company_prefix] if organisation.gs1_company_prefix else []
            try:
                return key.epc_urn(prefixes=[*own, *prefixes])
            except Gs1Error:
                return key.digital_link()
    return f"{URN_PREFIX}:organisation:{organisation.slug}"


def account_party(address: str, *, chain_id: int) -> str:
    """A chain account no organisation holds, as an EPCIS party."""
    return f"{URN_PREFIX}:account:{chain_id}:{address.lower()}"


def parties(addresses: Iterable[str], *, chain_id: int | None = None) -> dict[str, str]:
    """The EPCIS party of each chain address (keys lower-cased): its organisation's, by
    any key the organisation has had, else the account's."""
    chain_id = chain_id or settings.CHAIN_ID
    wanted = {a.lower() for a in addresses if a}
    if not wanted:
        return {}
    prefixes = gs1_company_prefixes()
    found: dict[str, str] = {}
    for organisation in Organisation.objects.filter(address__in=_spellings(wanted)):
        found[organisation.address.lower()] = organisation_party(organisation, prefixes=prefixes)
    keys = OrganisationKey.objects.filter(address__in=_spellings(wanted - set(found)))
    for key in keys.select_related("organisation"):
        found[key.address.lower()] = organisation_party(key.organisation, prefixes=prefixes)
    return {a: found.get(a) or account_party(a, chain_id=chain_id) for a in wanted}


def _spellings(addresses: set[str]) -> list[str]:
    # Addresses are stored checksummed; a case-insensitive IN has no index to use.
    return [*addresses, *(Web3.to_checksum_address(a) for a in addresses)]
