"""Finding lots: the lots page (tabs, filters, sorting) and the portal's search box.

Every query starts from the lots the organisation's stock scope shows (`StockScope`):
a lot whose custody the organisation never touched is not listed and not found, for a
member; auditors and the operator see every lot. Organisation names are public in the
consortium, so the search finds any organisation by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KT

from contracts.chain.domain import SubjectKind
from webapp.chain.models import Block
from webapp.formatting.labels import certificate_type_label
from webapp.limits import UINT256_MAX
from webapp.lots.custody import Custody, lot_custody
from webapp.lots.models import LotMetadata
from webapp.lots.selectors import KIND_NAMES
from webapp.lots.selectors.scope import StockScope, current_lots
from webapp.organisations.models import Organisation, OrganisationKey
from webapp.projections.models import Balance, CertificateVersion, HandoffVersion, LotVersion

#: The lots page's tabs: which of the lots in view it lists.
TABS = {
    "all": "All I may see",
    "mine": "Created by us",
    "held": "Held by us now",
    "handled": "Held or sent by us",
}
#: Sort keys (a leading "-" reverses) -> the column they order by.
SORTS = {"id": "lot_id", "name": "name", "date": "registered_block", "quantity": "quantity"}
SEARCH_LIMIT = 50


@dataclass(frozen=True)
class LotQuery:
    """What the lots page asks for: a tab, filters and a sort key."""

    tab: str = "all"
    kind: int | None = None
    gtin: str = ""
    holder: Organisation | None = None
    quarantined: bool | None = None
    registered_from: date | None = None
    registered_to: date | None = None
    sort: str = "-id"


def organisation_addresses(organisation: Organisation) -> list[str]:
    """Every chain address an organisation has had (holdings follow rotated keys)."""
    addresses = set(
        OrganisationKey.objects.filter(organisation=organisation).values_list("address", flat=True)
    )
    if organisation.address:
        addresses.add(organisation.address)
    return sorted(addresses)


def lots_in_view(*, scope: StockScope) -> QuerySet[Any]:
    """Current lots the scope shows, with their name, unit and registration block and
    time (the block of the lot's first version)."""
    chain_id = settings.CHAIN_ID
    metadata = LotMetadata.objects.filter(chain_id=chain_id, lot_id=OuterRef("lot_id"))
    first = LotVersion.objects.filter(chain_id=chain_id, lot_id=OuterRef("lot_id")).order_by(
        "block_from", "log_from"
    )
    block = Block.objects.filter(chain_id=chain_id, number=OuterRef("registered_block"))
    lots: QuerySet[Any] = scope.listed(current_lots())
    annotated: QuerySet[Any] = lots.annotate(
        name=Subquery(metadata.values(text=KT("document__name"))[:1]),
        unit=Subquery(metadata.values(text=KT("document__unit"))[:1]),
        registered_block=Subquery(first.values("block_from")[:1]),
        registered_at=Subquery(block.values("timestamp")[:1]),
    )
    return annotated


def _tab(lots: QuerySet[Any], tab: str, mine: list[str]) -> QuerySet[Any]:
    chain_id = settings.CHAIN_ID
    if tab == "mine":
        return lots.filter(creator__in=mine)
    if tab == "held":
        held = Balance.objects.filter(
            chain_id=chain_id, holder__in=mine, block_to__isnull=True, quantity__gt=0
        ).values("lot_id")
        return lots.filter(lot_id__in=held)
    if tab == "handled":
        ever_held = Balance.objects.filter(
            chain_id=chain_id, holder__in=mine, quantity__gt=0
        ).values("lot_id")
        sent = HandoffVersion.objects.filter(chain_id=chain_id, sender__in=mine).values("lot_id")
        return lots.filter(Q(lot_id__in=ever_held) | Q(lot_id__in=sent))
    return lots


def lot_find(*, scope: StockScope, query: LotQuery) -> QuerySet[Any]:
    """The lots page: the lots in view on the tab, filtered and sorted (see `LotQuery`)."""
    lots = _tab(lots_in_view(scope=scope), query.tab, sorted(scope.addresses))
    if query.kind is not None:
        lots = lots.filter(kind=query.kind)
    if query.gtin:
        # The GS1 key holds the GTIN as 14 digits, however it was typed at registration.
        line = LotMetadata.objects.filter(
            chain_id=settings.CHAIN_ID, gs1_key__startswith=f"(01){query.gtin.zfill(14)}"
        ).values("lot_id")
        lots = lots.filter(lot_id__in=line)
    if query.holder is not None:
        held = Balance.objects.filter(
            chain_id=settings.CHAIN_ID,
            holder__in=organisation_addresses(query.holder),
            block_to__isnull=True,
            quantity__gt=0,
        ).values("lot_id")
        # Who holds what is shown only of the lots whose stock is in view.
        lots = scope.lots(lots.filter(lot_id__in=held))
    if query.quarantined is not None:
        lots = lots.filter(quarantined=query.quarantined)
    if query.registered_from is not None:
        lots = lots.filter(registered_at__date__gte=query.registered_from)
    if query.registered_to is not None:
        lots = lots.filter(registered_at__date__lte=query.registered_to)
    column = SORTS.get(query.sort.removeprefix("-"), "lot_id")
    order = F(column).desc(nulls_last=True) if query.sort.startswith("-") else F(column).asc()
    return lots.order_by(order, "-lot_id")


@dataclass
class LotRow:
    """One lot as the lots page and the search list it."""

    lot_id: int
    name: str
    unit: str
    kind: str
    quantity: int
    holders: list[Custody]  # where it is now, in words
    quarantined: bool
    registered_at: datetime | None


def lot_rows(*, scope: StockScope, lots: Iterable[Any]) -> list[LotRow]:
    """Rows for lots from `lots_in_view`, with where each is now (`lot_custody`): who holds
    it, what is in transit or packed, what was consumed; all of it where the scope covers
    the lot, else only the organisation's own holding."""
    lots = list(lots)
    custody = lot_custody(lot_ids=[int(lot.lot_id) for lot in lots], scope=scope)
    return [
        LotRow(
            lot_id=int(lot.lot_id),
            name=lot.name or "",
            unit=lot.unit or "",
            kind=KIND_NAMES.get(lot.kind, ""),
            quantity=lot.quantity,
            holders=custody[int(lot.lot_id)],
            quarantined=lot.quarantined,
            registered_at=lot.registered_at,
        )
        for lot in lots
    ]


@dataclass
class CertificateHit:
    certificate_id: int
    certificate_type: str
    lot_id: int | None
    revoked: bool


@dataclass
class SearchResults:
    text: str
    lot: int | None = None  # the lot whose id was typed, when the organisation may see it
    lots: list[LotRow] = field(default_factory=list)
    certificates: list[CertificateHit] = field(default_factory=list)
    organisations: list[Organisation] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.lots or self.certificates or self.organisations)


def _as_id(text: str) -> int | None:
    """The text as a uint256 id: ASCII digits only, in range."""
    if not (text.isascii() and text.isdigit()) or len(text) > 78:
        return None
    number = int(text)
    return number if number <= UINT256_MAX else None


def _certificates(scope: StockScope, number: int, visible: QuerySet[Any]) -> list[Any]:
    """The certificate with this id, if the organisation may know of it: it is about a lot
    in view, or the organisation issued it."""
    rows = CertificateVersion.objects.filter(
        chain_id=settings.CHAIN_ID, block_to__isnull=True, certificate_id=number
    )
    if not scope.everything:
        mine = list(scope.addresses)
        about_lot = Q(subject_kind=int(SubjectKind.LOT), subject__in=visible.values("lot_id"))
        rows = rows.filter(about_lot | Q(issuer__in=mine))
    return list(rows)


def search_results(*, scope: StockScope, text: str) -> SearchResults:
    """What the search box finds for `text`: a lot by its exact id, lots by name
    (contains), GTIN or batch number, a certificate by its id, organisations by name."""
    text = text.strip()
    results = SearchResults(text=text)
    if not text:
        return results
    visible = lots_in_view(scope=scope)
    number = _as_id(text)
    match = Q(name__icontains=text)
    documents = LotMetadata.objects.filter(chain_id=settings.CHAIN_ID)
    by_code = Q(document__batch__iexact=text)
    if number is not None:
        match |= Q(lot_id=number)
        if 8 <= len(text) <= 14:
            by_code |= Q(gs1_key__startswith=f"(01){text.zfill(14)}")
        results.certificates = [
            CertificateHit(
                certificate_id=int(c.certificate_id),
                certificate_type=certificate_type_label(c.certificate_type),
                lot_id=int(c.subject) if c.subject_kind == SubjectKind.LOT else None,
                revoked=c.revoked,
            )
            for c in _certificates(scope, number, visible)
        ]
        if visible.filter(lot_id=number).exists():
            results.lot = number
    match |= Q(lot_id__in=documents.filter(by_code).values("lot_id"))
    results.lots = lot_rows(
        scope=scope, lots=list(visible.filter(match).order_by("-lot_id")[:SEARCH_LIMIT])
    )
    results.organisations = list(
        Organisation.objects.exclude(address="").filter(name__icontains=text)[:SEARCH_LIMIT]
    )
    return results


@dataclass
class ConsortiumOverview:
    """What an auditor's dashboard shows of the lots across the consortium."""

    quarantined: list[LotRow]
    recent: list[LotRow]  # latest registrations
    open_handoffs: int
    lots: int


def consortium_overview(*, scope: StockScope, limit: int = 10) -> ConsortiumOverview:
    """The lots in view (every lot, for an auditor): those quarantined, the latest
    registered, how many handoffs wait for an answer, and how many lots there are."""
    lots = lots_in_view(scope=scope)
    quarantined = list(lots.filter(quarantined=True).order_by("-lot_id")[:limit])
    recent = list(lots.order_by(F("registered_block").desc(nulls_last=True), "-lot_id")[:limit])
    open_handoffs = scope.lots(
        HandoffVersion.objects.filter(
            chain_id=settings.CHAIN_ID, block_to__isnull=True, status="open"
        )
    ).count()
    return ConsortiumOverview(
        quarantined=lot_rows(scope=scope, lots=quarantined),
        recent=lot_rows(scope=scope, lots=recent),
        open_handoffs=open_handoffs,
        lots=lots.count(),
    )
