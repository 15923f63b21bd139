"""JSON shape of a lot's figures, shared by the partner API and the evidence pack."""

from __future__ import annotations

from typing import Any

from webapp.sustainability.selectors import Figures


def figures_json(f: Figures) -> dict[str, Any]:
    return {
        "lot_id": f.lot_id,
        "as_of_block": f.block,
        "carbon_footprint_g_co2e_per_unit": str(f.footprint_g_per_unit),
        "carbon_footprint_complete": f.footprint_complete,
        "recycled_content_permille": str(f.recycled_permille),
        "certified_input_share": str(f.certified_input_share),
        "certificates_used": f.certificates,
        "transformations_crossed": f.transformations,
    }
