"""Origin credit per product line and month, the report behind `/api/v1/origins`, the
portal's origin report and its CSV: end products that reached a retailer in the reader's
view (the sustainability dashboard's stock scope), under filters. The credit itself is
`webapp.sustainability.origins`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal
from fractions import Fraction
from urllib.parse import urlencode

from django.conf import settings

from webapp.lots.selectors.scope import stock_scope
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_names
from webapp.projections.models import LotVersion
from webapp.sustainability.dashboard import BadFilter, Filters
from webapp.sustainability.mass_balance import allocated, rounded
from webapp.sustainability.origins import KG, Credit, arrivals_read, block_times, world_read


@dataclass(frozen=True)
class OriginFilters:
    """Arrivals at retail from `since` to `until` (whole UTC days, both included), of one
    product line."""

    since: date | None = None
    until: date | None = None
    line: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> OriginFilters:
        """`from`, `to` and `product_line` of a query string; raises BadFilter (the reason
        for people), under the dashboard's rules for dates and product lines."""
        known = {"from", "to", "product_line", "format"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise BadFilter(
                f"Unknown filter {unknown[0]!r}; the filters are from, to and product_line."
            )
        parsed = Filters.parse(
            {
                "from": params.get("from", ""),
                "to": params.get("to", ""),
                "line": params.get("product_line", ""),
            }
        )
        return cls(since=parsed.since, until=parsed.until, line=parsed.line)

    def query(self) -> str:
        pairs = {
            "from": self.since.isoformat() if self.since else "",
            "to": self.until.isoformat() if self.until else "",
            "product_line": self.line,
        }
        return urlencode({k: v for k, v in pairs.items() if v})

    def admits(self, *, line: str, day: date) -> bool:
        if self.line and line != self.line:
            return False
        if self.since and day < self.since:
            return False
        return not (self.until and day > self.until)


@dataclass
class PeriodLine:
    """One product line in one month: how much of it reached retail, credited to whom.
    `basis` is "kg", or the products' own unit when their mass is unknown."""

    month: str  # YYYY-MM, UTC
    line: str
    basis: str
    total: Decimal
    products: int
    weighed_by_quantity: bool
    credits: list[Credit]


@dataclass
class OriginReport:
    block: int | None
    rows: list[PeriodLine]
    lines: list[str]  # every product line in view, for the filter
    filters: OriginFilters
    reached_cap: bool = False


def origin_report(
    *, organisation: Organisation, filters: OriginFilters | None = None
) -> OriginReport:
    """Origin credit per product line per month of the end products in the
    organisation's view (the dashboard's stock scope), under `filters`."""
    filters = filters or OriginFilters()
    chain_id = settings.CHAIN_ID
    arrivals = arrivals_read(chain_id=chain_id)
    in_view = {
        int(i)
        for i in stock_scope(organisation=organisation)
        .lots(
            LotVersion.objects.filter(
                chain_id=chain_id,
                block_to__isnull=True,
                lot_id__in=sorted({a.lot_id for a in arrivals}),
            )
        )
        .values_list("lot_id", flat=True)
    }
    arrivals = [a for a in arrivals if a.lot_id in in_view]
    times = block_times(chain_id, {a.block for a in arrivals})
    world = world_read(lot_ids=sorted(in_view), chain_id=chain_id)
    balance, people = world.balance, organisation_names()
    groups: dict[tuple[str, str, str], dict[str, Fraction]] = defaultdict(
        lambda: defaultdict(Fraction)
    )
    totals: dict[tuple[str, str, str], Fraction] = defaultdict(Fraction)
    products: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    approximate: set[tuple[str, str, str]] = set()
    for a in arrivals:
        moment = times.get(a.block)
        line = world.lines.get(a.lot_id, "")
        if moment is None or not filters.admits(line=line, day=moment.astimezone(UTC).date()):
            continue
        per_unit = balance.grams_per_unit(a.lot_id)
        if per_unit is None:
            basis, amount = world.units.get(a.lot_id) or "units", a.quantity
        else:
            basis, amount = "kg", a.quantity * per_unit / KG
        key = (moment.astimezone(UTC).strftime("%Y-%m"), line, basis)
        for origin, fraction in balance.mix(a.lot_id).items():
            groups[key][origin] += amount * fraction
        totals[key] += amount
        products[key].add(a.lot_id)
        if balance.by_quantity(a.lot_id):
            approximate.add(key)
    rows = []
    for key in sorted(groups):
        month, line, basis = key
        parts = groups[key]
        total = totals[key]
        shares = allocated({o: v / total for o, v in parts.items()} if total else {})
        amounts = allocated(parts)
        credits = sorted(
            (Credit(o, people.get(o, ""), shares.get(o, Decimal(0)), amounts[o]) for o in parts),
            key=lambda c: (-parts[c.address], c.address),
        )
        rows.append(
            PeriodLine(
                month=month,
                line=line,
                basis=basis,
                total=rounded(total),
                products=len(products[key]),
                weighed_by_quantity=key in approximate,
                credits=credits,
            )
        )
    return OriginReport(
        block=world.block,
        rows=rows,
        lines=sorted({world.lines.get(a.lot_id, "") for a in arrivals}),
        filters=filters,
        reached_cap=world.reached_cap,
    )
