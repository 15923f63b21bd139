"""Footprint roll-ups per lot: the sustainability rule, stored per lot as of a block."""

from __future__ import annotations

from webapp.bulk import server_bound
from webapp.exports.warehouse.refresh.rows import as_of_sql, ids_text
from webapp.provenance.selectors import MAX_DEPTH
from webapp.sustainability.selectors import lots_figures

_DOWNSTREAM = f"""
WITH RECURSIVE down(node, depth) AS (
    SELECT unnest(%s::numeric[]), 0
    UNION
    SELECT x.far, d.depth + 1
      FROM down d
     CROSS JOIN LATERAL (
        SELECT t.output_lot AS far FROM projections_transformationedge t
         WHERE t.chain_id = %s AND t.input_lot = d.node
        UNION ALL
        SELECT b.bundle_id FROM projections_bundlecontent b
         WHERE b.chain_id = %s AND b.lot_id = d.node
     ) x
     WHERE d.depth < {MAX_DEPTH}
)
SELECT DISTINCT node FROM down
"""


def downstream(chain_id: int, lot_ids: set[int]) -> set[int]:
    """The lots and everything made of them or packed with them, at any depth."""
    if not lot_ids:
        return set()
    rows = server_bound(_DOWNSTREAM, [ids_text(sorted(lot_ids)), chain_id, chain_id])
    return {int(r[0]) for r in rows}


def footprints(chain_id: int, lot_ids: set[int], block: int | None) -> int:
    """Roll up and store the figures of the lots (that exist as of `block`)."""
    if not lot_ids:
        return 0
    existing = sorted(
        int(r[0])
        for r in server_bound(
            "SELECT v.lot_id FROM projections_lotversion v WHERE v.chain_id = %s "
            f"AND v.lot_id = ANY(%s::numeric[]) AND {as_of_sql('v', block)}",
            [chain_id, ids_text(sorted(lot_ids))],
        )
    )
    figures = lots_figures(lot_ids=existing, block=block, chain_id=chain_id) if existing else {}
    rows = [figures[i] for i in existing if i in figures]
    if not rows:
        return 0
    server_bound(
        """INSERT INTO reporting.fact_lot_footprint (lot_key, chain_id, as_of_block, quantity,
               footprint_g_per_unit, footprint_complete, recycled_permille,
               certified_input_share)
           SELECT l.lot_key, %s, t.block, l.quantity, t.footprint, t.complete, t.recycled,
                  t.share
             FROM unnest(%s::numeric[], %s::bigint[], %s::numeric[], %s::boolean[],
                         %s::numeric[], %s::numeric[])
                  AS t(lot_id, block, footprint, complete, recycled, share)
             JOIN reporting.dim_lot l ON l.chain_id = %s AND l.lot_id = t.lot_id
           ON CONFLICT (lot_key) DO UPDATE
              SET as_of_block = EXCLUDED.as_of_block, quantity = EXCLUDED.quantity,
                  footprint_g_per_unit = EXCLUDED.footprint_g_per_unit,
                  footprint_complete = EXCLUDED.footprint_complete,
                  recycled_permille = EXCLUDED.recycled_permille,
                  certified_input_share = EXCLUDED.certified_input_share""",
        [
            chain_id,
            ids_text(f.lot_id for f in rows),
            [f.block for f in rows],
            [f.footprint_g_per_unit for f in rows],
            [f.footprint_complete for f in rows],
            [f.recycled_permille for f in rows],
            [f.certified_input_share for f in rows],
            chain_id,
        ],
    )
    return len(rows)
