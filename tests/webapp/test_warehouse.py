"""The warehouse fed by the real pipeline on anvil: the star schema holds the product's
handoffs, transformation, certificates and footprints; its per-line figures are the
sustainability dashboard's; DuckDB over the lake and SQL over the warehouse give one
aggregate the same; a depth-3 reorganisation takes what left the chain out of both.

Data: test_provenance_flow's product (ore A 1000 g at 4 g CO2e/g and ore B 500 g at 2 g/g
from the mine, refined by the refinery into 600 g of cobalt, packed on a pallet handed to
the distributor)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from django.core.management import call_command
from django.db import connection
from web3 import Web3

from contracts.chain.client import build_transaction
from contracts.chain.deploy import Manifest
from contracts.chain.domain import LotKind
from tests.contracts.consortium import H1, H2, Consortium
from tests.webapp.test_provenance_flow import product
from webapp.chain.indexer import ChainIndexer
from webapp.chain.models import ChainEvent
from webapp.chain.pipeline import chain_sync
from webapp.exports.warehouse.models import (
    DimLot,
    FactCertificate,
    FactHandoff,
    FactLotFootprint,
    FactTransformationEdge,
    WarehouseProgress,
)
from webapp.organisations.models import Organisation
from webapp.projections.models import LotVersion
from webapp.sustainability.dashboard import dashboard

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]
__all__ = ["product"]  # fixture

THREE = Decimal("0.001")


@pytest.fixture
def lake_dir(settings: Any, tmp_path: Path) -> Path:
    settings.LAKE_URL = str(tmp_path / "lake")
    return tmp_path / "lake"


def lots_now() -> dict[int, LotVersion]:
    return {int(v.lot_id): v for v in LotVersion.objects.filter(block_to=None)}


def rows(sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def test_the_star_schema_holds_the_product_and_the_dashboards_numbers(
    lake_dir: Path, product: dict[str, Any]
) -> None:
    a, b, c, p = product["a"], product["b"], product["c"], product["p"]
    handoffs = {
        (int(h.lot.lot_id), h.sender.slug, h.receiver.slug, h.status, int(h.quantity))
        for h in FactHandoff.objects.select_related("lot", "sender", "receiver")
    }
    assert handoffs == {
        (a, "mine", "refinery", "accepted", 1000),
        (b, "mine", "refinery", "accepted", 500),
        (p, "refinery", "distributor", "accepted", 1),
    }
    edges = {
        (int(e.input_lot.lot_id), int(e.output_lot.lot_id), int(e.input_quantity), e.actor.slug)
        for e in FactTransformationEdge.objects.select_related("input_lot", "output_lot", "actor")
    }
    assert edges == {(a, c, 800, "refinery"), (b, c, 400, "refinery")}
    certificates = {
        (int(f.lot.lot_id), f.issuer.slug, f.certificate_type, f.revoked)
        for f in FactCertificate.objects.select_related("lot", "issuer")
    }
    assert {(lot, issuer, revoked) for lot, issuer, _, revoked in certificates} == {
        (a, "certifier", False),
        (b, "certifier", False),
    }
    lots = {int(lot.lot_id): lot for lot in DimLot.objects.select_related("creator")}
    assert set(lots) == {a, b, c, p}
    assert lots[c].creator.slug == "refinery"
    assert lots[p].kind == LotKind.BUNDLE
    assert all(lot.registered_date_id for lot in lots.values())
    footprint = FactLotFootprint.objects.get(lot_id=lots[c].lot_key)
    assert footprint.footprint_g_per_unit.quantize(THREE) == Decimal("6.667")
    assert footprint.footprint_complete

    # The dashboard's "per product line" table, for a reader who sees every lot.
    operator = Organisation.objects.get(is_operator=True)
    table = dashboard(organisation=operator).tables["product_lines"]
    shown = {
        r[0]: (r[2], r[3], r[4], r[5], r[6], r[7]) for r in table.rows
    }  # lots, quantity, footprint, uncertified, recycled, share

    def q(value: Any) -> Decimal | None:
        return None if value is None else Decimal(value).quantize(THREE)

    stored = {
        line: (n, int(quantity), q(fp), uncertified, q(recycled), q(share))
        for line, n, quantity, uncertified, fp, recycled, share in rows(
            "SELECT product_line, lots, quantity, uncertified_lots, footprint_g_per_unit, "
            "recycled_permille, certified_input_share FROM reporting.product_line_figures"
        )
    }
    assert stored == shown
    assert stored["Cobalt"][2] == Decimal("6.667")

    # One aggregate both ways: accepted handoffs per sender, receiver (and quantity).
    call_command("export_lake")
    con = duckdb.connect()
    con.execute(f"SET file_search_path = '{lake_dir}'")
    con.execute((lake_dir / "views.sql").read_text())
    lake = sorted(
        (s.lower(), r.lower(), int(n), int(total))
        for s, r, n, total in con.execute(
            "SELECT json_extract_string(args, '$.sender'), "
            "json_extract_string(args, '$.receiver'), count(*), "
            "sum(CAST(json_extract_string(args, '$.quantity') AS HUGEINT)) "
            "FROM lake_events WHERE event = 'HandoffAccepted' GROUP BY ALL"
        ).fetchall()
    )
    warehouse = sorted(
        (s.lower(), r.lower(), int(n), int(total))
        for s, r, n, total in rows(
            "SELECT s.account, r.account, count(*), sum(h.quantity) "
            "FROM reporting.fact_handoff h "
            "JOIN reporting.dim_organisation s ON s.organisation_key = h.sender_key "
            "JOIN reporting.dim_organisation r ON r.organisation_key = h.receiver_key "
            "WHERE h.status = 'accepted' GROUP BY 1, 2"
        )
    )
    assert warehouse == lake
    assert len(warehouse) == 2  # mine -> refinery (two lots), refinery -> distributor

    # The day's snapshots of the projections, as of the mirror's head, listed in manifests.
    call_command("export_lake", snapshots=True)
    snapshot = f"{lake_dir}/snapshots/v1/{{}}/date=*/*.parquet"
    lots = dict(
        con.execute(
            f"SELECT lot_id, quantity FROM read_parquet('{snapshot.format('lots')}')"
        ).fetchall()
    )
    assert lots == {str(i): str(v.quantity) for i, v in lots_now().items()}
    figures = dict(
        con.execute(
            f"SELECT lot_id, footprint_g_per_unit FROM read_parquet('{snapshot.format('figures')}')"
        ).fetchall()
    )
    assert figures[str(c)] == "6.667"
    handed = con.execute(
        f"SELECT count(*) FROM read_parquet('{snapshot.format('handoffs')}') "
        "WHERE status = 'accepted'"
    ).fetchone()
    assert handed == (3,)
    call_command("verify_lake")
    call_command("export_lake", snapshots=True)  # the day's snapshot is taken: kept as is


def test_a_rebuild_gives_the_same_warehouse_and_shows_its_progress(
    product: dict[str, Any],
) -> None:
    def snapshot() -> list[list[tuple[Any, ...]]]:
        return [
            rows(
                "SELECT lot_id, product_line, quantity, quarantined, registered_block "
                "FROM reporting.dim_lot ORDER BY lot_id"
            ),
            rows(
                "SELECT handoff_id, status, quantity, initiated_block, closed_block "
                "FROM reporting.fact_handoff ORDER BY handoff_id"
            ),
            rows(
                "SELECT l.lot_id, f.footprint_g_per_unit, f.recycled_permille "
                "FROM reporting.fact_lot_footprint f JOIN reporting.dim_lot l USING (lot_key) "
                "ORDER BY l.lot_id"
            ),
            rows("SELECT certificate_id, revoked FROM reporting.fact_certificate ORDER BY 1"),
        ]

    before = snapshot()
    assert all(before)
    call_command("refresh_warehouse", rebuild=True, batch=7)
    assert snapshot() == before
    progress = WarehouseProgress.objects.get(name="warehouse")
    assert (progress.done, progress.finished) == (ChainEvent.objects.count(), True)
    call_command("refresh_warehouse")  # at the head: nothing to do, nothing doubled
    assert snapshot() == before


def test_a_reorg_takes_what_left_the_chain_out_of_the_warehouse(
    chain: Consortium, w3: Web3, manifest: Manifest, settings: Any
) -> None:
    settings.CHAIN_ID = manifest.chain_id
    c = chain
    kept = c.register_lot(c.miner)
    chain_sync(indexer=ChainIndexer(w3, manifest))
    fork = w3.eth.block_number
    doomed = [c.register_lot(c.miner) for _ in range(3)]
    c.act(c.miner, c.lots.functions.setQuarantine(kept, "leak seen"))
    chain_sync(indexer=ChainIndexer(w3, manifest))
    in_warehouse = {int(i) for i in DimLot.objects.values_list("lot_id", flat=True)}
    assert {kept, *doomed} <= in_warehouse
    assert DimLot.objects.get(lot_id=kept).quarantined
    assert rows("SELECT action, reason FROM reporting.fact_quarantine") == [("set", "leak seen")]

    replacement = c.new_id()
    call = c.lots.functions.registerLot(replacement, 5, LotKind.PRODUCT, H1, H2)
    signed = c.maker.sign_transaction(build_transaction(w3, c.maker.address, call, gas=300_000))
    depth = w3.eth.block_number - fork
    w3.provider.make_request("anvil_reorg", [depth, [["0x" + signed.hex(), 0]]])  # type: ignore[arg-type]
    chain_sync(indexer=ChainIndexer(w3, manifest))

    in_warehouse = {int(i) for i in DimLot.objects.values_list("lot_id", flat=True)}
    assert not set(doomed) & in_warehouse
    assert {kept, replacement} <= in_warehouse
    assert in_warehouse == {
        int(i) for i in LotVersion.objects.filter(block_to=None).values_list("lot_id", flat=True)
    }
    assert not DimLot.objects.get(lot_id=kept).quarantined  # set above the fork: undone
    assert rows("SELECT count(*) FROM reporting.fact_quarantine") == [(0,)]
    footprints = {int(i) for i in FactLotFootprint.objects.values_list("lot__lot_id", flat=True)}
    assert footprints == in_warehouse
