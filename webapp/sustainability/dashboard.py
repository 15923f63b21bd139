"""Reads behind the sustainability dashboards: every table a chart draws, and the CSV
export of it, comes from one function here.

Scope: the same rule as every other view of stock (`webapp.lots.selectors.StockScope`): an
auditor (or the consortium operator) sees every lot; any other organisation sees the lots
it is a custody party to (made, holds or held, sent or was offered), the quarantines on
them and its own handoffs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Min, Q, QuerySet

from contracts.chain.domain import LotKind
from webapp.chain.models import Block
from webapp.lots.models import LotMetadata
from webapp.lots.selectors import KIND_NAMES, sees_all_stock, stock_scope
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_names
from webapp.projections.models import HandoffVersion, LotVersion
from webapp.sustainability.selectors import Figures, lots_figures

TABLES = ("product_lines", "monthly", "certified_inputs", "quarantines", "partners")


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]


def sees_everything(organisation: Organisation) -> bool:
    return sees_all_stock(organisation)


def _in_view(lots: QuerySet[LotVersion], organisation: Organisation) -> QuerySet[LotVersion]:
    """The current lots in the organisation's stock scope."""
    lots = lots.filter(chain_id=settings.CHAIN_ID, block_to__isnull=True)
    return stock_scope(organisation=organisation).lots(lots)


def scoped_lots(*, organisation: Organisation) -> list[LotVersion]:
    """Current material lots (not bundles) in the organisation's view."""
    lots = _in_view(LotVersion.objects.exclude(kind=LotKind.BUNDLE), organisation)
    return list(lots.order_by("lot_id")[:2000])


def product_line(meta: LotMetadata | None, lot: LotVersion) -> str:
    """The product line a lot belongs to: its declared line, else GTIN, else name."""
    if meta is None:
        return KIND_NAMES.get(lot.kind, "lot")
    document = meta.document
    return str(
        document.get("product_line") or document.get("gtin") or meta.name or KIND_NAMES[lot.kind]
    )


def _weighted(pairs: list[tuple[Decimal, Decimal]]) -> Decimal:
    mass = sum((q for _, q in pairs), Decimal(0))
    if mass == 0:
        return Decimal("0.000")
    return (sum((v * q for v, q in pairs), Decimal(0)) / mass).quantize(Decimal("0.001"))


def dashboard_tables(*, organisation: Organisation) -> dict[str, Table]:
    """Every table of the dashboard, computed from one shared roll-up."""
    chain_id = settings.CHAIN_ID
    lots = scoped_lots(organisation=organisation)
    ids = [int(lot.lot_id) for lot in lots]
    figures: dict[int, Figures] = lots_figures(lot_ids=ids) if ids else {}
    metas = {
        int(m.lot_id): m for m in LotMetadata.objects.filter(chain_id=chain_id, lot_id__in=ids)
    }
    born = dict(
        LotVersion.objects.filter(chain_id=chain_id, lot_id__in=ids)
        .values("lot_id")
        .annotate(first=Min("block_from"))
        .values_list("lot_id", "first")
    )
    times = dict(
        Block.objects.filter(chain_id=chain_id, number__in=set(born.values())).values_list(
            "number", "timestamp"
        )
    )

    lines: dict[str, list[tuple[LotVersion, Figures]]] = defaultdict(list)
    months: dict[str, list[tuple[LotVersion, Figures]]] = defaultdict(list)
    for lot in lots:
        f = figures.get(int(lot.lot_id))
        if f is None:
            continue
        lines[product_line(metas.get(int(lot.lot_id)), lot)].append((lot, f))
        when = times.get(born.get(lot.lot_id, -1))
        if when is not None:
            months[when.strftime("%Y-%m")].append((lot, f))

    def summary(group: list[tuple[LotVersion, Figures]]) -> list[Any]:
        return [
            len(group),
            int(sum(lot.quantity for lot, _ in group)),
            _weighted([(f.footprint_g_per_unit, lot.quantity) for lot, f in group]),
            _weighted([(f.recycled_permille, lot.quantity) for lot, f in group]),
            _weighted([(f.certified_input_share, lot.quantity) for lot, f in group]),
            all(f.footprint_complete for _, f in group),
        ]

    figure_columns = [
        "lots",
        "quantity",
        "footprint_g_co2e_per_unit",
        "recycled_permille",
        "certified_input_share",
        "footprint_complete",
    ]
    tables = {
        "product_lines": Table(
            "product_lines",
            "Footprint and recycled share per product line",
            ["product_line", *figure_columns],
            [[name, *summary(group)] for name, group in sorted(lines.items())],
        ),
        "monthly": Table(
            "monthly",
            "Footprint and recycled share over time (by month of registration)",
            ["month", *figure_columns],
            [[month, *summary(group)] for month, group in sorted(months.items())],
        ),
        "certified_inputs": Table(
            "certified_inputs",
            "Certified-input share per lot",
            ["lot_id", "name", "quantity", "certified_input_share", "recycled_permille"],
            [
                [
                    int(lot.lot_id),
                    metas[int(lot.lot_id)].name if int(lot.lot_id) in metas else "",
                    int(lot.quantity),
                    figures[int(lot.lot_id)].certified_input_share,
                    figures[int(lot.lot_id)].recycled_permille,
                ]
                for lot in lots
                if int(lot.lot_id) in figures
            ],
        ),
        "quarantines": _quarantines(organisation),
        "partners": _partners(organisation),
    }
    return tables


def _quarantines(organisation: Organisation) -> Table:
    names = organisation_names()
    rows = _in_view(LotVersion.objects.filter(quarantined=True), organisation)
    return Table(
        "quarantines",
        "Open quarantines",
        ["lot_id", "kind", "creator", "since_block", "reason"],
        [
            [
                int(r.lot_id),
                KIND_NAMES.get(r.kind, ""),
                names.get(r.creator, r.creator),
                r.block_from,
                r.quarantine_reason,
            ]
            for r in rows.order_by("lot_id")
        ],
    )


def _partners(organisation: Organisation) -> Table:
    """Accepted handoffs per partner: how many and how much, each way."""
    names = organisation_names()
    accepted = HandoffVersion.objects.filter(
        chain_id=settings.CHAIN_ID, block_to__isnull=True, status="accepted"
    )
    if not sees_everything(organisation):
        accepted = accepted.filter(
            Q(sender=organisation.address) | Q(receiver=organisation.address)
        )
    volumes: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for h in accepted:
        volumes[(h.sender, h.receiver)][0] += 1
        volumes[(h.sender, h.receiver)][1] += int(h.quantity)
    return Table(
        "partners",
        "Handoff volumes per partner",
        ["sender", "receiver", "handoffs", "quantity"],
        [
            [names.get(s, s), names.get(r, r), count, quantity]
            for (s, r), (count, quantity) in sorted(volumes.items(), key=lambda kv: -kv[1][1])
        ],
    )
