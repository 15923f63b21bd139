"""Traces and roll-ups on a hand-built graph whose answers were worked out on paper.

ore A (1) 1000 g ─┐ T1: A 600 + B 400 ──► refined R (10) 900 g, slag S (11) 100 g
ore B (2) 1000 g ─┘
scrap C (3) 500 g ──► T2: R 300 + C 200 ──► alloy X (20) 500 g
                      T3: R 300         ──► alloy Y (21) 300 g
                      T4: X 250 + Y 150 ──► product P (30) 40 pieces   (a diamond on R)
inner bundle I (40) holds P 20 from block 14; outer bundle O (50) holds I from block 15;
I is unpacked at block 20 (its contents row closes then).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.webapp.lineage import Graph
from webapp.provenance.selectors import LotNotFound, lot_trace, lots_upstream
from webapp.sustainability.selectors import lot_figures, lots_figures

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

A, B, C, R, S, X, Y, P, INNER, OUTER = 1, 2, 3, 10, 11, 20, 21, 30, 40, 50


@pytest.fixture(autouse=True, params=["lateral", "portable"])
def walk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every answer holds for both forms of the walk: PostgreSQL's LATERAL one and the
    portable one over the edge view (what a SQLite first run uses)."""
    if request.param == "portable":
        from webapp.provenance import selectors

        monkeypatch.setattr(selectors, "_lateral_walk", lambda: False)


@pytest.fixture
def graph() -> Graph:
    g = Graph()
    g.lot(A, 1000, block=1)
    g.lot(B, 1000, block=2)
    g.lot(C, 500, block=3)
    g.certify(A, block=4, claims={"CO2E_G_PER_UNIT": 3})
    g.certify(B, block=4, claims={"CO2E_G_PER_UNIT": 5}, revoked_at=16)
    scrap = {"CO2E_G_PER_UNIT": 1, "RECYCLED_PERMILLE": 1000}
    g.certify(C, block=4, kind="RECYCLED_CONTENT", claims=scrap)
    g.transform({A: 600, B: 400}, {R: 900, S: 100}, block=10)
    g.transform({R: 300, C: 200}, {X: 500}, block=11)
    g.certify(X, block=11, claims={"CO2E_G_PER_UNIT": 2})  # the alloying process's own
    g.transform({R: 300}, {Y: 300}, block=12)
    g.transform({X: 250, Y: 150}, {P: 40}, block=13, kind=3)
    g.bundle(INNER, {P: 20}, block=14, until=20)
    g.bundle(OUTER, {INNER: 1}, block=15)
    g.lot(99, 1, block=21)  # a later block, so "now" is after the unpacking
    return g


def test_upstream_trace_reaches_every_source_once_with_its_distance(graph: Graph) -> None:
    trace = lot_trace(lot_id=OUTER, direction="up", depth=10)
    assert trace.nodes == {OUTER: 0, INNER: 1, P: 2, X: 3, Y: 3, R: 4, C: 4, A: 5, B: 5}
    # The diamond R -> X -> P and R -> Y -> P gives R one node and two edges out of it.
    into_p = sorted((e.parent, int(e.parent_quantity)) for e in trace.edges if e.child == P)
    assert into_p == [(X, 250), (Y, 150)]
    from_r = sorted((e.child, int(e.parent_quantity)) for e in trace.edges if e.parent == R)
    assert from_r == [(X, 300), (Y, 300)]
    assert {(e.parent, e.child, e.kind) for e in trace.edges if e.kind == "bundle"} == {
        (P, INNER, "bundle"),
        (INNER, OUTER, "bundle"),
    }
    assert len(trace.edges) == 9
    assert not trace.reached_cap


def test_downstream_trace_follows_material_into_products_and_bundles(graph: Graph) -> None:
    trace = lot_trace(lot_id=A, direction="down", depth=10)
    assert trace.nodes == {A: 0, R: 1, S: 1, X: 2, Y: 2, P: 3, INNER: 4, OUTER: 5}
    assert lot_trace(lot_id=C, direction="down", depth=10).nodes == {
        C: 0, X: 1, P: 2, INNER: 3, OUTER: 4,
    }  # fmt: skip


def test_the_depth_cap_stops_the_walk_and_says_so(graph: Graph) -> None:
    trace = lot_trace(lot_id=OUTER, direction="up", depth=2)
    assert trace.nodes == {OUTER: 0, INNER: 1, P: 2}
    assert trace.reached_cap
    assert {(e.parent, e.child) for e in trace.edges} == {(INNER, OUTER), (P, INNER)}


def test_as_of_a_block_a_bundle_holds_what_it_held_then(graph: Graph) -> None:
    assert set(lot_trace(lot_id=OUTER, direction="up", depth=10, block=16).nodes) >= {P, A}
    # After I was unpacked at block 20, O holds an empty bundle: the trace stops at I.
    assert lot_trace(lot_id=OUTER, direction="up", depth=10, block=20).nodes == {
        OUTER: 0,
        INNER: 1,
    }
    # Before O was packed it had no contents; before T4, X fed nothing.
    assert lot_trace(lot_id=OUTER, direction="up", depth=10, block=14).nodes == {OUTER: 0}
    assert lot_trace(lot_id=X, direction="down", depth=10, block=12).nodes == {X: 0}
    # Without a block the trace is all history, unpacked bundles included.
    assert P in lot_trace(lot_id=OUTER, direction="up", depth=10).nodes


def test_a_walk_from_several_lots_reaches_what_their_walks_reach_one_by_one(
    graph: Graph,
) -> None:
    """`lots_upstream` (what roll-ups over many lots use) is the union of each lot's own
    upstream trace, each edge once, unpacked bundles' contents included."""
    starts = [OUTER, Y, S, C]
    nodes, edges = lots_upstream(lot_ids=starts, block=21)
    traces = [
        lot_trace(lot_id=lot, direction="up", depth=64, block=21, alive_only=False)
        for lot in starts
    ]
    assert nodes == set().union(*(t.nodes for t in traces))
    assert {INNER, P, X, Y, R, A, B, S, C} <= nodes
    assert sorted(edges, key=repr) == sorted({e for t in traces for e in t.edges}, key=repr)
    assert len(edges) == len(set(edges))
    # As of block 12 the outer bundle did not exist yet and Y was new: what fed Y then.
    assert lots_upstream(lot_ids=[Y, A], block=12)[0] == {Y, R, A, B}


def test_bad_trace_requests_are_refused(graph: Graph) -> None:
    with pytest.raises(LotNotFound):
        lot_trace(lot_id=12345, direction="up", depth=3)
    with pytest.raises(ValueError, match="depth"):
        lot_trace(lot_id=A, direction="up", depth=0)
    with pytest.raises(ValueError, match="direction"):
        lot_trace(lot_id=A, direction="sideways", depth=3)  # type: ignore[arg-type]


def test_footprint_rolls_up_through_transformations_and_bundles(graph: Graph) -> None:
    figures = lots_figures(lot_ids=[R, S, X, Y, P, INNER], block=15)
    # R, S: (600 x 3 + 400 x 5) / (900 + 100) = 3.8 g per g, shared by both outputs.
    assert figures[R].footprint_g_per_unit == Decimal("3.800")
    assert figures[S].footprint_g_per_unit == Decimal("3.800")
    # X: (300 x 3.8 + 200 x 1) / 500 + the process's own 2 = 4.68
    assert figures[X].footprint_g_per_unit == Decimal("4.680")
    assert figures[Y].footprint_g_per_unit == Decimal("3.800")
    # P: (250 x 4.68 + 150 x 3.8) / 40 = 43.5 per piece; the bundle holds 20 pieces.
    assert figures[P].footprint_g_per_unit == Decimal("43.500")
    assert figures[INNER].footprint_g_per_unit == Decimal("870.000")
    assert all(f.footprint_complete for f in figures.values())
    assert figures[P].transformations == [1, 2, 3, 4]
    assert figures[P].certificates == [1, 2, 3, 4]


def test_recycled_content_is_a_mass_balance(graph: Graph) -> None:
    figures = lots_figures(lot_ids=[R, X, P, INNER], block=15)
    assert figures[R].recycled_permille == Decimal("0.000")
    assert figures[X].recycled_permille == Decimal("400.000")  # 200 of 500 from C
    assert figures[P].recycled_permille == Decimal("250.000")  # (250 x 400 + 150 x 0) / 400
    assert figures[INNER].recycled_permille == Decimal("250.000")


def test_a_revoked_certificate_drops_out_of_every_figure_after_its_block(graph: Graph) -> None:
    before = lots_figures(lot_ids=[R, X, P], block=15)
    after = lots_figures(lot_ids=[R, X, Y, P], block=17)
    assert before[P].certified_input_share == Decimal("1.000")
    # B's certificate was revoked at block 16: its 400 g count as uncertified, unknown CO2e.
    assert after[R].certified_input_share == Decimal("0.600")
    assert after[X].certified_input_share == Decimal("0.760")  # (300 x 0.6 + 200) / 500
    assert after[Y].certified_input_share == Decimal("0.600")
    assert after[P].certified_input_share == Decimal("0.850")  # (250 x 1 + 150 x 0.6) / 400
    assert after[R].footprint_g_per_unit == Decimal("1.800")  # only A's 600 x 3 known
    assert not after[R].footprint_complete
    assert not after[P].footprint_complete
    assert 2 not in after[P].certificates


def test_an_unpacked_bundle_keeps_the_figures_of_what_it_carried(graph: Graph) -> None:
    # After B's revocation: R = 600 x 3 / 1000 = 1.8, X = (300 x 1.8 + 200) / 500 + 2 = 3.48,
    # Y = 1.8, P = (250 x 3.48 + 150 x 1.8) / 40 = 28.5; the bundle carried 20 of P.
    unpacked = lot_figures(lot_id=INNER, block=21)
    assert unpacked.footprint_g_per_unit == Decimal("570.000")
    assert not unpacked.footprint_complete
    assert lot_figures(lot_id=OUTER, block=21).footprint_g_per_unit == Decimal("570.000")


def test_figures_are_the_same_on_every_evaluation(graph: Graph) -> None:
    first = lot_figures(lot_id=OUTER, block=16)
    again = lots_figures(lot_ids=[A, OUTER, R], block=16)[OUTER]
    assert first == again
    with pytest.raises(LotNotFound):
        lot_figures(lot_id=777, block=16)
