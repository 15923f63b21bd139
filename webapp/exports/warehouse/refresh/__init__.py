"""Refresh the warehouse from the projections, for what a batch of chain events touched.

Every refresh is a handful of set-based upserts (one ``unnest`` statement per table, keyed
by natural keys), so a batch of 5,000 events costs about as many statements as a batch of
one. Rows are read from the versioned projections *as of* a block (None: their current
versions), which is what lets a reorganisation rewrite the warehouse as of the fork before
the projections themselves roll back (consumers roll back last registered first).

What each kind of event touches:

- a lot's dimension row: its registration, quarantine, transfers (quantity), being named
  by a handoff, certificate, transformation or bundle;
- a fact row: the handoff, certificate or transformation the event names; a quarantine
  event is its own fact row;
- footprints (``fact_lot_footprint``): a lot registered, made by a transformation or
  packed as a bundle, and every lot downstream of a lot whose certificates changed.
  Figures are rolled up as of the mirror's head (the dashboard's rule,
  `webapp.sustainability.selectors.lots_figures`); a certificate that expires without an
  event changes them without touching the warehouse, so ``refresh_warehouse
  --footprints`` recomputes them all (run it daily, or before a report).
"""

from __future__ import annotations

from django.db import connection

from webapp.exports.warehouse.refresh.dimensions import (
    dates_upsert,
    lots_upsert,
    organisations_upsert,
)
from webapp.exports.warehouse.refresh.facts import (
    certificates_upsert,
    edges_upsert,
    facts_read,
    handoffs_upsert,
    quarantines_insert,
)
from webapp.exports.warehouse.refresh.footprints import downstream, footprints
from webapp.exports.warehouse.refresh.touched import Touched, touched


def warehouse_refresh(t: Touched, *, chain_id: int, block: int | None = None) -> None:
    """Rewrite every row `t` names from the projections as of `block` (None: current)."""
    facts = facts_read(chain_id, t, block)
    lots = t.lots | facts.lots()
    dates_upsert(t.times)
    organisations_upsert(
        chain_id,
        t.accounts | facts.accounts() | {str(e.args.get("by", "")) for e in t.quarantines},
    )
    lots_upsert(chain_id, lots, block)
    handoffs_upsert(chain_id, facts)
    certificates_upsert(chain_id, facts)
    edges_upsert(chain_id, facts)
    quarantines_insert(chain_id, t.quarantines)
    certified = facts.certified_lots()
    roots = t.footprints | certified
    if roots:
        footprints(chain_id, downstream(chain_id, roots), block)


def warehouse_retract(*, chain_id: int, to_block: int) -> dict[str, int]:
    """Undo what the warehouse holds above `to_block`: facts born above it go, rows whose
    state changed above it are rewritten as of it. Returns the rows removed per table."""
    removed: dict[str, int] = {}
    with connection.cursor() as cursor:
        for table, column in (
            ("fact_quarantine", "block"),
            ("fact_transformation_edge", "block"),
            ("fact_handoff", "initiated_block"),
            ("fact_certificate", "issued_block"),
        ):
            cursor.execute(
                f"DELETE FROM reporting.{table} WHERE chain_id = %s AND {column} > %s",
                [chain_id, to_block],
            )
            removed[table] = cursor.rowcount
        cursor.execute(
            "DELETE FROM reporting.fact_lot_footprint f USING reporting.dim_lot l "
            "WHERE f.lot_key = l.lot_key AND l.chain_id = %s AND l.registered_block > %s",
            [chain_id, to_block],
        )
        removed["fact_lot_footprint"] = cursor.rowcount
        cursor.execute(
            "DELETE FROM reporting.lot_personal p USING reporting.dim_lot l "
            "WHERE p.lot_key = l.lot_key AND l.chain_id = %s AND l.registered_block > %s",
            [chain_id, to_block],
        )
        cursor.execute(
            "DELETE FROM reporting.dim_lot WHERE chain_id = %s AND registered_block > %s",
            [chain_id, to_block],
        )
        removed["dim_lot"] = cursor.rowcount

        def ids(sql: str) -> set[int]:
            cursor.execute(sql, [chain_id, to_block])
            return {int(r[0]) for r in cursor.fetchall()}

        again = Touched(
            lots=ids(
                "SELECT lot_id FROM reporting.dim_lot WHERE chain_id = %s AND state_block > %s"
            ),
            handoffs=ids(
                "SELECT handoff_id FROM reporting.fact_handoff "
                "WHERE chain_id = %s AND state_block > %s"
            ),
            certificates=ids(
                "SELECT certificate_id FROM reporting.fact_certificate "
                "WHERE chain_id = %s AND state_block > %s"
            ),
            footprints=ids(
                "SELECT l.lot_id FROM reporting.fact_lot_footprint f "
                "JOIN reporting.dim_lot l USING (lot_key) "
                "WHERE f.chain_id = %s AND f.as_of_block > %s"
            ),
        )
    warehouse_refresh(again, chain_id=chain_id, block=to_block)
    return removed


__all__ = [
    "Touched",
    "downstream",
    "footprints",
    "touched",
    "warehouse_refresh",
    "warehouse_retract",
]
