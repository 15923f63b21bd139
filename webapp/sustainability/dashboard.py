"""Reads behind the sustainability dashboard: every table a chart draws, and the CSV
export of it, comes from one function here, under the same filters.

Scope: the same rule as every other view of stock (`webapp.lots.selectors.scope.StockScope`): an
auditor (or the consortium operator) sees every lot; any other organisation sees the lots
it is a custody party to (made, holds or held, sent or was offered), the quarantines on
them and its own handoffs.

Footprints: a lot's footprint counts only when it is certified all the way down (every
source carries a valid footprint certificate, `Figures.footprint_complete`). An uncertified
lot's figure is a lower bound; averaged in, it would pull a line's or a month's footprint
down, so it is left out and counted beside the figure instead.

Every table carries its raw values (what the charts draw) and the same rows as people read
them (`cells`, written by `webapp.formatting`): the page and the CSV both show `cells`, so
they never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from contracts.chain.domain import LotKind
from webapp import formatting
from webapp.chain.models import Block
from webapp.db_router import lag_tolerant
from webapp.lots.models import LotMetadata
from webapp.lots.selectors import KIND_CODES, KIND_NAMES
from webapp.lots.selectors.scope import sees_all_stock, stock_scope
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_names
from webapp.projections.models import HandoffVersion, LotVersion
from webapp.sustainability.selectors import Figures, lots_figures

TABLES = ("product_lines", "monthly", "certified_inputs", "quarantines", "partners")
#: The kinds a dashboard can be narrowed to, by the code the API uses ("raw_material").
KIND_FILTERS = {KIND_CODES[k.value]: k.value for k in LotKind if k != LotKind.BUNDLE}
#: The dates a filter may name (a day past either end would not be a time on a chain).
EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)
#: Longest product-line filter accepted (a line's name is a lot's metadata, not a query).
MAX_LINE = 200


class BadFilter(ValueError):
    """A filter value the dashboard cannot use; the message says why, for people."""


@dataclass(frozen=True)
class Filters:
    """What the reader narrowed the dashboard to: lots registered from `since` to `until`
    (whole days in the reader's time zone, both included), of one product line, of one kind."""

    since: date | None = None
    until: date | None = None
    line: str = ""
    kind: str = ""  # a KIND_FILTERS code

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        """The filters in a query string (`from`, `to`, `line`, `kind`); raises BadFilter."""
        since = _day(params.get("from", ""), "from")
        until = _day(params.get("to", ""), "to")
        if since and until and since > until:
            raise BadFilter(f"The start date {since} is after the end date {until}.")
        line = params.get("line", "").strip()
        if len(line) > MAX_LINE:
            raise BadFilter(f"A product line has at most {MAX_LINE} characters.")
        kind = params.get("kind", "").strip()
        if kind and kind not in KIND_FILTERS:
            raise BadFilter(f"No kind {kind!r}; the kinds are {', '.join(KIND_FILTERS)}.")
        return cls(since=since, until=until, line=line, kind=kind)

    def query(self) -> str:
        """The filters as a query string ("from=2026-01-01&line=Cobalt"), "" when none."""
        pairs = {
            "from": self.since.isoformat() if self.since else "",
            "to": self.until.isoformat() if self.until else "",
            "line": self.line,
            "kind": self.kind,
        }
        return urlencode({k: v for k, v in pairs.items() if v})

    def admits(self, *, line: str, kind: int, born: datetime | None) -> bool:
        if self.line and line != self.line:
            return False
        if self.kind and KIND_FILTERS[self.kind] != kind:
            return False
        return self._in_range(born)

    def _in_range(self, moment: datetime | None) -> bool:
        if self.since is None and self.until is None:
            return True
        if moment is None:
            return False
        zone = timezone.get_current_timezone()
        if self.since and moment < datetime.combine(self.since, time.min, zone):
            return False
        end = self.until + timedelta(days=1) if self.until else None
        return not (end and moment >= datetime.combine(end, time.min, zone))


def _day(text: str, name: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadFilter(f"'{name}' must be a date written like 2026-12-31, not {text!r}.") from None
    if not EARLIEST <= day <= LATEST:
        raise BadFilter(f"'{name}' must be a date between {EARLIEST} and {LATEST}.")
    return day


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]  # raw values, what the charts draw
    cells: list[list[str]]  # the same rows as people read them: the page and the CSV
    numeric: frozenset[int] = frozenset()  # columns of figures (right-aligned)
    note: str = ""

    def header(self) -> list[tuple[str, bool]]:
        """(title, is a figure) per column, for a page."""
        return [(title, i in self.numeric) for i, title in enumerate(self.columns)]

    def lines(self) -> list[list[tuple[str, bool]]]:
        """(text, is a figure) per cell, for a page."""
        return [[(text, i in self.numeric) for i, text in enumerate(row)] for row in self.cells]


@dataclass
class Dashboard:
    tables: dict[str, Table]
    lines: list[str] = field(default_factory=list)  # every product line in view, for the filter
    filters: Filters = field(default_factory=Filters)


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
    return product_line_of(None if meta is None else meta.document, lot.kind)


def product_line_of(document: Mapping[str, Any] | None, kind: int) -> str:
    """`product_line` from a lot's metadata document (None: no metadata) and kind."""
    if document is None:
        return KIND_NAMES.get(kind, "lot")
    return str(
        document.get("product_line")
        or document.get("gtin")
        or str(document.get("name", ""))
        or KIND_NAMES[kind]
    )


def _weighted(pairs: list[tuple[Decimal, Decimal]]) -> Decimal | None:
    """The quantity-weighted mean of the values; None for nothing to weigh."""
    mass = sum((q for _, q in pairs), Decimal(0))
    if mass == 0:
        return None
    return (sum((v * q for v, q in pairs), Decimal(0)) / mass).quantize(Decimal("0.001"))


def _born(chain_id: int, ids: list[int]) -> dict[int, datetime]:
    """When each lot was registered: the time of the block of its first version."""
    first = dict(
        LotVersion.objects.filter(chain_id=chain_id, lot_id__in=ids)
        .values("lot_id")
        .annotate(first=Min("block_from"))
        .values_list("lot_id", "first")
    )
    times = _block_times(chain_id, set(first.values()))
    return {int(lot): times[block] for lot, block in first.items() if block in times}


def _block_times(chain_id: int, numbers: set[int]) -> dict[int, datetime]:
    return dict(
        Block.objects.filter(chain_id=chain_id, number__in=numbers).values_list(
            "number", "timestamp"
        )
    )


def _unit_of(units: set[str]) -> str | None:
    """The one unit of a group of lots, None when they mix units."""
    return next(iter(units)) if len(units) == 1 else None


def _amount(total: int, unit: str | None) -> str:
    return (
        formatting.quantity(total, unit)
        if unit is not None
        else f"{formatting.number(total)} (mixed units)"
    )


@lag_tolerant  # reporting: may trail the chain by the replica's lag
def dashboard(*, organisation: Organisation, filters: Filters | None = None) -> Dashboard:
    """Every table of the dashboard under `filters`, computed from one shared roll-up."""
    filters = filters or Filters()
    chain_id = settings.CHAIN_ID
    zone = timezone.get_current_timezone()
    every = scoped_lots(organisation=organisation)
    ids = [int(lot.lot_id) for lot in every]
    metas = {
        int(m.lot_id): m for m in LotMetadata.objects.filter(chain_id=chain_id, lot_id__in=ids)
    }
    born = _born(chain_id, ids)
    line_of = {int(lot.lot_id): product_line(metas.get(int(lot.lot_id)), lot) for lot in every}
    lots = [
        lot
        for lot in every
        if filters.admits(
            line=line_of[int(lot.lot_id)], kind=lot.kind, born=born.get(int(lot.lot_id))
        )
    ]
    chosen = [int(lot.lot_id) for lot in lots]
    matching: set[int] | None = None  # lots of the chosen line and kind, any date
    if filters.line or filters.kind:
        product = Filters(line=filters.line, kind=filters.kind)
        matching = {
            int(lot.lot_id)
            for lot in every
            if product.admits(line=line_of[int(lot.lot_id)], kind=lot.kind, born=None)
        }
    dates = Filters(since=filters.since, until=filters.until)
    figures: dict[int, Figures] = lots_figures(lot_ids=chosen) if chosen else {}

    def unit(lot: LotVersion) -> str:
        meta = metas.get(int(lot.lot_id))
        return meta.unit if meta else ""

    lines: dict[str, list[tuple[LotVersion, Figures]]] = defaultdict(list)
    months: dict[str, list[tuple[LotVersion, Figures]]] = defaultdict(list)
    for lot in lots:
        f = figures.get(int(lot.lot_id))
        if f is None:
            continue
        lines[line_of[int(lot.lot_id)]].append((lot, f))
        when = born.get(int(lot.lot_id))
        if when is not None:
            months[when.astimezone(zone).strftime("%Y-%m")].append((lot, f))

    tables = {
        "product_lines": _product_lines(lines, unit),
        "monthly": _monthly(months),
        "certified_inputs": _certified_inputs(lots, figures, metas, unit),
        "quarantines": _quarantines(organisation, dates, matching),
        "partners": _partners(organisation, dates, matching, metas),
    }
    return Dashboard(tables=tables, lines=sorted(set(line_of.values())), filters=filters)


def _product_lines(lines: dict[str, list[tuple[LotVersion, Figures]]], unit: Any) -> Table:
    rows, cells = [], []
    for name, group in sorted(lines.items()):
        certified = [(lot, f) for lot, f in group if f.footprint_complete]
        line_unit = _unit_of({unit(lot) for lot, _ in group})
        total = int(sum(lot.quantity for lot, _ in group))
        footprint = _weighted([(f.footprint_g_per_unit, lot.quantity) for lot, f in certified])
        recycled = _weighted([(f.recycled_permille, lot.quantity) for lot, f in group])
        share = _weighted([(f.certified_input_share, lot.quantity) for lot, f in group])
        uncertified = len(group) - len(certified)
        rows.append([name, line_unit, len(group), total, footprint, uncertified, recycled, share])
        cells.append(
            [
                name,
                formatting.number(len(group)),
                _amount(total, line_unit),
                formatting.co2e_per_unit(footprint, line_unit or "unit")
                if footprint is not None
                else "no certified lot",
                formatting.number(uncertified),
                formatting.permille(recycled),
                formatting.percent(share),
            ]
        )
    return Table(
        "product_lines",
        "Footprint and recycled content per product line",
        [
            "Product line",
            "Lots",
            "Quantity",
            "Footprint per unit (certified lots)",
            "Uncertified lots (not counted)",
            "Recycled content",
            "Certified-input share",
        ],
        rows,
        cells,
        numeric=frozenset({1, 2, 3, 4, 5, 6}),
        note="A footprint counts only when every source of the lot carries a valid footprint "
        "certificate; other lots are counted apart and left out of the figure.",
    )


def _monthly(months: dict[str, list[tuple[LotVersion, Figures]]]) -> Table:
    rows, cells = [], []
    for month, group in sorted(months.items()):
        certified = [(lot, f) for lot, f in group if f.footprint_complete]
        grams = sum((f.footprint_g_per_unit * lot.quantity for lot, f in certified), Decimal(0))
        recycled = _weighted([(f.recycled_permille, lot.quantity) for lot, f in group])
        share = _weighted([(f.certified_input_share, lot.quantity) for lot, f in group])
        uncertified = len(group) - len(certified)
        rows.append([month, len(group), len(certified), grams, uncertified, recycled, share])
        cells.append(
            [
                _month_name(month),
                formatting.number(len(group)),
                formatting.number(len(certified)),
                formatting.co2e(grams) if certified else "no certified lot",
                formatting.number(uncertified),
                formatting.permille(recycled),
                formatting.percent(share),
            ]
        )
    return Table(
        "monthly",
        "Footprint by month of registration",
        [
            "Month",
            "Lots",
            "Certified lots",
            "Footprint of certified lots (CO2e)",
            "Uncertified lots (not counted)",
            "Recycled content",
            "Certified-input share",
        ],
        rows,
        cells,
        numeric=frozenset({1, 2, 3, 4, 5, 6}),
        note="The footprint of a month is the CO2e of the certified lots registered in it "
        "(footprint per unit times quantity); lots without a certified footprint are counted "
        "apart, never averaged in.",
    )


def _month_name(month: str) -> str:
    return datetime.strptime(month, "%Y-%m").strftime("%b %Y")


def _certified_inputs(
    lots: list[LotVersion],
    figures: dict[int, Figures],
    metas: dict[int, LotMetadata],
    unit: Any,
) -> Table:
    rows, cells = [], []
    for lot in lots:
        lot_id = int(lot.lot_id)
        if lot_id not in figures:
            continue
        f = figures[lot_id]
        name = metas[lot_id].name if lot_id in metas else ""
        rows.append([lot_id, name, int(lot.quantity), f.certified_input_share, f.recycled_permille])
        cells.append(
            [
                str(lot_id),
                name,
                formatting.quantity(int(lot.quantity), unit(lot)),
                formatting.percent(f.certified_input_share),
                formatting.permille(f.recycled_permille),
            ]
        )
    return Table(
        "certified_inputs",
        "Certified-input share per lot",
        ["Lot", "Name", "Quantity", "Certified-input share", "Recycled content"],
        rows,
        cells,
        numeric=frozenset({2, 3, 4}),
    )


def _quarantines(organisation: Organisation, dates: Filters, matching: set[int] | None) -> Table:
    """Open quarantines on lots in view: of the matching lots (None: of any lot), put in
    place within the dates."""
    names = organisation_names()
    found = list(_in_view(LotVersion.objects.filter(quarantined=True), organisation))
    since = _block_times(settings.CHAIN_ID, {r.block_from for r in found})
    zone = timezone.get_current_timezone_name()
    rows, cells = [], []
    for r in sorted(found, key=lambda r: int(r.lot_id)):
        lot_id = int(r.lot_id)
        when = since.get(r.block_from)
        if matching is not None and lot_id not in matching:
            continue
        if not dates.admits(line="", kind=r.kind, born=when):
            continue
        maker = names.get(r.creator, r.creator)
        rows.append([lot_id, KIND_NAMES.get(r.kind, ""), maker, when, r.quarantine_reason])
        cells.append(
            [
                str(lot_id),
                KIND_NAMES.get(r.kind, ""),
                maker,
                formatting.when(when, zone) if when else f"block {r.block_from}",
                r.quarantine_reason,
            ]
        )
    return Table(
        "quarantines",
        "Open quarantines",
        ["Lot", "Kind", "Made by", "Quarantined since", "Reason"],
        rows,
        cells,
    )


def _partners(
    organisation: Organisation,
    dates: Filters,
    matching: set[int] | None,
    metas: dict[int, LotMetadata],
) -> Table:
    """Accepted handoffs per partner, how many and how much each way: of the matching lots
    (None: of any lot), accepted within the dates."""
    names = organisation_names()
    accepted = HandoffVersion.objects.filter(
        chain_id=settings.CHAIN_ID, block_to__isnull=True, status="accepted"
    )
    if not sees_everything(organisation):
        accepted = accepted.filter(
            Q(sender=organisation.address) | Q(receiver=organisation.address)
        )
    handoffs = list(accepted)
    times = _block_times(settings.CHAIN_ID, {h.block_from for h in handoffs})
    volumes: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    units: dict[tuple[str, str], set[str]] = defaultdict(set)
    for h in handoffs:
        lot_id = int(h.lot_id)
        if matching is not None and lot_id not in matching:
            continue
        if not dates.admits(line="", kind=0, born=times.get(h.block_from)):
            continue
        volumes[(h.sender, h.receiver)][0] += 1
        volumes[(h.sender, h.receiver)][1] += int(h.quantity)
        units[(h.sender, h.receiver)].add(metas[lot_id].unit if lot_id in metas else "")
    rows, cells = [], []
    for (s, r), (count, quantity) in sorted(volumes.items(), key=lambda kv: -kv[1][1]):
        unit = _unit_of(units[(s, r)])
        rows.append([names.get(s, s), names.get(r, r), count, quantity, unit])
        cells.append(
            [names.get(s, s), names.get(r, r), formatting.number(count), _amount(quantity, unit)]
        )
    return Table(
        "partners",
        "Handoff volumes per partner",
        ["From", "To", "Handoffs", "Quantity"],
        rows,
        cells,
        numeric=frozenset({2, 3}),
    )
