"""The lineage graph's layout in a real browser, on a synthetic trace of about two hundred
lots: the page's own script and stylesheet draw plain trace data (the shape the lot page
embeds), and no box, label or text touches another or leaves its box, and every lot can be
scrolled into view. The real four-lot trace is checked on the lot page in
test_provenance_browser.py."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from tests.webapp.browser import browser, page, phone, shot
from tests.webapp.lineage_layout import layout_problems

pytestmark = [pytest.mark.integration]

__all__ = ["browser", "page", "phone"]  # fixtures used below

STATIC = Path(__file__).resolve().parents[2] / "webapp" / "portal" / "static" / "portal"
WORDS = [
    "recycled",
    "cathode",
    "copper",
    "cobalt",
    "sulphate",
    "northern",
    "smelter",
    "batch",
    "refined",
    "nickel",
    "precursor",
    "lithium",
    "hydroxide",
    "casing",
    "module",
    "pallet",
    "grade",
]


def lot(lot_id: int, depth: int, kind: str, name: str, quantity: int, unit: str) -> dict[str, Any]:
    return {
        "lot_id": lot_id,
        "depth": depth,
        "kind": kind,
        "name": name,
        "unit": unit,
        "quantity": quantity,
        "quantity_text": f"{quantity:,} {unit}",
        "creator": "0x" + "11" * 20,
        "creator_name": "Katanga Cobalt Mine and Refining Cooperative",
        "quarantined": False,
        "holders": [],
        "holders_scope": "all",
        "certificates": [{"certificate_type": "CARBON_FOOTPRINT", "revoked": False}],
    }


def edge(parent: int, child: int, quantity: int, kind: str = "transformation") -> dict[str, Any]:
    label = f"packed {quantity:,} kg" if kind == "bundle" else f"{quantity:,} kg used"
    return {"from": parent, "to": child, "kind": kind, "quantity": quantity, "label": label,
            "transformation_id": None if kind == "bundle" else child}  # fmt: skip


def synthetic_trace(seed: int = 7) -> tuple[dict[str, Any], dict[str, Any]]:
    """Upstream: 120 ores → 48 refined lots → 16 components → 6 products → the start lot,
    with some ores feeding components directly (edges that skip a column); downstream: the
    start lot packed on 8 pallets. 199 lots, long names among them."""
    rng = random.Random(seed)
    start = 1
    ids = iter(range(2, 10_000))

    def name() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 7))).capitalize()

    layers: list[list[int]] = [[start]]
    up_nodes = [lot(start, 0, "product", "Battery pack, 48 V, grade A", 40, "units")]
    up_edges: list[dict[str, Any]] = []
    sizes = [6, 16, 48, 120]
    kinds = ["product", "component", "component", "raw material"]
    for depth, (size, kind) in enumerate(zip(sizes, kinds, strict=True), start=1):
        layer = [next(ids) for _ in range(size)]
        for lot_id in layer:
            up_nodes.append(lot(lot_id, depth, kind, name(), rng.randint(1, 90_000), "kg"))
        below = layers[-1]
        for i, lot_id in enumerate(layer):  # every new lot feeds one or two lots below it
            up_edges.append(edge(lot_id, below[i % len(below)], rng.randint(1, 5000)))
            if rng.random() < 0.3:
                up_edges.append(edge(lot_id, rng.choice(below), rng.randint(1, 5000)))
        layers.append(layer)
    for ore in rng.sample(layers[4], 12):  # straight into a component, past the refinery
        up_edges.append(edge(ore, rng.choice(layers[2]), rng.randint(1, 5000)))
    down_nodes = [up_nodes[0]]
    down_edges = []
    for _ in range(8):
        pallet = next(ids)
        down_nodes.append(lot(pallet, 1, "bundle", f"Pallet {pallet}", 5, "units"))
        down_edges.append(edge(start, pallet, 5, kind="bundle"))
    up = {"lot_id": start, "nodes": up_nodes, "edges": up_edges}
    down = {"lot_id": start, "nodes": down_nodes, "edges": down_edges}
    return up, down


def draw(page: Any, up: dict[str, Any], down: dict[str, Any]) -> None:
    """The lot page's lineage section with the portal's stylesheet and script."""
    css = (STATIC / "portal.css").read_text()
    page.set_content(
        f"<!doctype html><html><head><style>{css}</style></head><body><main>"
        '<section id="lineage"><h2>Lineage</h2><div class="lineage" id="lineage-graph"></div>'
        f'<script type="application/json" id="lineage-up">{json.dumps(up)}</script>'
        f'<script type="application/json" id="lineage-down">{json.dumps(down)}</script>'
        "</section></main></body></html>"
    )
    page.add_script_tag(content=(STATIC / "lineage.js").read_text())
    page.locator("#lineage-graph svg").wait_for()


def test_a_trace_of_two_hundred_lots_is_drawn_without_overlaps_or_clipping(page: Any) -> None:
    up, down = synthetic_trace()
    lots = {n["lot_id"] for n in up["nodes"] + down["nodes"]}
    assert 190 <= len(lots) <= 210
    draw(page, up, down)
    shot(page, "14-lineage-200-lots")  # opens on the start lot
    found = layout_problems(page)
    assert found["problems"] == []
    assert found["lots"] == len(lots)
    links = {(e["from"], e["to"]) for e in up["edges"] + down["edges"]}
    assert found["labels"] == len(links)
    # Long names are cut with an ellipsis; the box's tooltip keeps the whole name.
    cut = page.locator("#lineage-graph text.lot-title", has_text="…")
    assert cut.count() > 0
    # The graph keeps its own size and the box scrolls: nothing is squeezed or cut off.
    sizes = page.locator("#lineage-graph").evaluate(
        "h => [h.scrollWidth, h.clientWidth, h.scrollHeight, h.clientHeight]"
    )
    assert sizes[0] > sizes[1]
    assert sizes[2] > sizes[3]


def test_zooming_out_keeps_the_graph_apart_and_in_reach(page: Any) -> None:
    up, down = synthetic_trace(seed=11)
    draw(page, up, down)
    page.click("button[aria-label='Zoom out']")
    page.click("button[aria-label='Zoom out']")
    assert float(page.locator("#lineage-graph svg").get_attribute("data-scale") or 0) < 1
    assert layout_problems(page)["problems"] == []
    shot(page, "14-lineage-200-lots-zoomed-out")
    page.click("button[aria-label='Actual size']")
    assert page.locator("#lineage-graph svg").get_attribute("data-scale") == "1"


def test_on_a_phone_the_graph_scrolls_inside_the_page_width(phone: Any) -> None:
    up, down = synthetic_trace()
    draw(phone, up, down)
    edges = phone.locator("#lineage-graph").evaluate(
        "h => [h.getBoundingClientRect().right, window.innerWidth, h.scrollWidth, h.clientWidth]"
    )
    right, viewport, scroll_width, client_width = edges
    assert right <= viewport
    assert scroll_width > client_width  # the graph scrolls inside its box instead
    assert layout_problems(phone)["problems"] == []
    shot(phone, "15-lineage-phone")


def test_a_lot_without_lineage_is_one_box_and_a_diamond_keeps_its_edges_apart(page: Any) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    alone = lot(9, 0, "raw material", "Ore", 10, "kg")
    draw(
        page,
        {"lot_id": 9, "nodes": [alone], "edges": []},
        {"lot_id": 9, "nodes": [alone], "edges": []},
    )
    found = layout_problems(page)
    assert (found["problems"], found["lots"], found["labels"]) == ([], 1, 0)

    # A feeds X directly and through R: X's column is after R's, so no edge runs backwards.
    a, r, x = (lot(1, 2, "raw material", "Ore A", 1000, "kg"), lot(2, 1, "component", "Refined",
               600, "kg"), lot(3, 0, "product", "Cell", 40, "units"))  # fmt: skip
    edges = [edge(1, 2, 600), edge(2, 3, 600), edge(1, 3, 400)]
    draw(
        page,
        {"lot_id": 3, "nodes": [x, r, a], "edges": edges},
        {"lot_id": 3, "nodes": [x], "edges": []},
    )
    found = layout_problems(page)
    assert (found["problems"], found["lots"], found["labels"]) == ([], 3, 3)
    columns = page.locator("#lineage-graph g.lot").evaluate_all(
        "gs => Object.fromEntries(gs.map(g => [g.dataset.lot, g.getBoundingClientRect().left]))"
    )
    assert columns["1"] < columns["2"] < columns["3"]
    assert errors == []
