"""The recovery drill of deploy/README.md: the mirror is rebuilt from the chain alone.
Every table the indexer and its consumers write (the event store, the projections, the
EPCIS events made from chain facts, the search index, the warehouse) is emptied, the
indexer replays the chain from block 0, and the mirror verifies clean against the node
with the same lots, figures, dashboard and warehouse as before.

Data: test_provenance_flow's product (ore certified and refined into cobalt, packed on a
pallet handed to the distributor)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from tests.webapp.test_provenance_flow import product
from webapp.chain.indexer import ChainIndexer
from webapp.chain.models import Block, ChainEvent, Checkpoint, ConsumerCursor, ParkedLog
from webapp.chain.pipeline import chain_sync
from webapp.chain.verification import verify_mirror
from webapp.epcis.models import EpcisEvent
from webapp.exports.search.models import SearchEntry
from webapp.exports.warehouse.schema import TABLES
from webapp.organisations.models import Organisation
from webapp.projections.models import VERSIONED, LotVersion
from webapp.sustainability.dashboard import dashboard
from webapp.sustainability.selectors import lots_figures

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]
__all__ = ["product"]  # fixture


def state() -> dict[str, Any]:
    operator = Organisation.objects.get(is_operator=True)
    lots = sorted(
        LotVersion.objects.filter(block_to=None).values_list(
            "lot_id", "kind", "creator", "quantity", "quarantined"
        )
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.lot_id, f.footprint_g_per_unit, f.recycled_permille "
            "FROM reporting.fact_lot_footprint f JOIN reporting.dim_lot l USING (lot_key) "
            "ORDER BY l.lot_id"
        )
        warehouse = cursor.fetchall()
        cursor.execute("SELECT handoff_id, status, quantity FROM reporting.fact_handoff ORDER BY 1")
        warehouse += cursor.fetchall()
    figures = lots_figures(lot_ids=[int(lot[0]) for lot in lots])
    return {
        "lots": lots,
        "figures": {i: (f.footprint_g_per_unit, f.recycled_permille) for i, f in figures.items()},
        "dashboard": dashboard(organisation=operator).tables["product_lines"].rows,
        "warehouse": warehouse,
        "events": ChainEvent.objects.count(),
        "epcis": EpcisEvent.objects.filter(source=EpcisEvent.Source.CHAIN).count(),
        "search": SearchEntry.objects.filter(kind__in=["lot", "event"]).count(),
    }


def test_the_mirror_rebuilt_from_the_chain_alone_is_the_same(product: dict[str, Any]) -> None:
    net = product["net"]
    before = state()
    assert before["lots"]
    assert before["warehouse"]
    assert before["figures"][product["c"]][0] > 0

    # The drill: everything the chain can give back is dropped.
    for model in (*VERSIONED, ChainEvent, Block, Checkpoint, ParkedLog, ConsumerCursor):
        model.objects.all().delete()
    EpcisEvent.objects.filter(source=EpcisEvent.Source.CHAIN).delete()
    SearchEntry.objects.exclude(kind="organisation").delete()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(f"reporting.{t}" for t in TABLES))
    assert not LotVersion.objects.exists()

    chain_sync(indexer=ChainIndexer(net.w3, net.manifest))

    report = verify_mirror(net.w3, net.manifest)
    assert report.clean, report
    assert report.checked == before["events"]
    assert state() == before
