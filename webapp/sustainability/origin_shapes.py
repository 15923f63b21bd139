"""JSON shapes of origin credit, for the partner API (numbers as strings, exact)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from webapp import formatting
from webapp.sustainability.dashboard import Table
from webapp.sustainability.mass_balance import rounded
from webapp.sustainability.origin_report import OriginReport
from webapp.sustainability.origins import Credit, LotOrigins

ROUNDING = (
    "Exact fractions from chain events; each figure rounded once to 0.001 (shares as 0..1, "
    "masses in kg), largest remainder so the parts sum to the rounded total, ties to the "
    "lower address."
)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def credit_json(c: Credit) -> dict[str, Any]:
    return {"address": c.address, "name": c.name, "share": str(c.share), "amount": _text(c.amount)}


def origin_report_json(report: OriginReport) -> dict[str, Any]:
    return {
        "as_of_block": report.block,
        "rounding": ROUNDING,
        "lineage_capped": report.reached_cap,
        "periods": [
            {
                "month": row.month,
                "product_line": row.line,
                "basis": row.basis,
                "total": str(row.total),
                "products": row.products,
                "weighed_by_quantity": row.weighed_by_quantity,
                "origins": [credit_json(c) for c in row.credits],
            }
            for row in report.rows
        ],
    }


def _per_unit(value: Fraction | None) -> str | None:
    return None if value is None else str(rounded(value))


def lot_origins_json(o: LotOrigins) -> dict[str, Any]:
    retail = None
    if o.first_arrival is not None:
        retail = {
            "quantity": str(rounded(o.at_retail)),
            "kilograms": _text(o.retail_kilograms),
            "first_block": o.first_arrival.block,
            "first_at": formatting.iso(o.arrived_at) or None,
            "origins": [credit_json(c) for c in o.retail_origins],
        }
    return {
        "lot_id": o.lot_id,
        "name": o.name,
        "unit": o.unit,
        "product_line": o.product_line,
        "as_of_block": o.block,
        "quantity": o.quantity,
        "grams_per_unit": _per_unit(o.grams_per_unit),
        "kilograms": _text(o.kilograms),
        "weighed_by_quantity": o.weighed_by_quantity,
        "lineage_capped": o.reached_cap,
        "origins": [credit_json(c) for c in o.origins],
        "at_retail": retail,
    }


def origin_table(report: OriginReport) -> Table:
    """The report as the portal page and its CSV show it: one row per product line, month
    and origin (the same `cells` in both)."""
    rows, cells = [], []
    for line in report.rows:
        month = datetime.strptime(line.month, "%Y-%m").strftime("%b %Y")
        for c in line.credits:
            amount = (
                f"{formatting.number(c.amount)} kg"
                if line.basis == "kg"
                else f"{formatting.quantity(c.amount, line.basis)} (no mass)"
            )
            rows.append([line.month, line.line, line.basis, c.address, c.amount, c.share])
            cells.append(
                [
                    month,
                    line.line,
                    formatting.number(line.products),
                    c.name or c.address,
                    amount,
                    formatting.percent(c.share) + (" *" if line.weighed_by_quantity else ""),
                ]
            )
    return Table(
        "origins",
        "Origin credit per product line and month",
        ["Month", "Product line", "Products", "Origin", "Amount", "Share of the line"],
        rows,
        cells,
        numeric=frozenset({2, 4, 5}),
        note="End products that reached a retailer (month of arrival, UTC), credited to the "
        "participants that registered their root lots by mass balance through "
        "transformations and bundles. * weighed by quantity: some input has no known mass.",
    )
