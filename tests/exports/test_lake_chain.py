"""The lake fed by the real pipeline on anvil: chain_sync exports the mirrored events, a
depth-3 reorganisation writes retractions, and the DuckDB view equals the event store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from django.core.management import call_command
from web3 import Web3

from contracts.chain.client import build_transaction
from contracts.chain.deploy import Manifest
from contracts.chain.domain import LotKind
from tests.contracts.consortium import H1, H2, Consortium
from tests.webapp.conftest import _chain_template, chain, manifest, w3
from webapp.chain.indexer import ChainIndexer
from webapp.chain.models import ChainEvent
from webapp.chain.pipeline import chain_sync

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]
__all__ = ["_chain_template", "chain", "manifest", "w3"]  # fixtures


def test_chain_sync_exports_and_a_reorg_retracts_what_left_the_chain(
    chain: Consortium, w3: Web3, manifest: Manifest, settings: Any, tmp_path: Path
) -> None:
    root = tmp_path / "lake"
    settings.LAKE_URL = str(root)
    settings.CHAIN_ID = manifest.chain_id
    c = chain
    for _ in range(5):
        c.register_lot(c.miner)
    chain_sync(indexer=ChainIndexer(w3, manifest))
    assert list(root.glob("events/v1/kind=LotRegistered/date=*/*.parquet"))
    call_command("verify_lake")
    fork = w3.eth.block_number - 3
    doomed = set(
        ChainEvent.objects.filter(block_number__gt=fork).values_list("block_hash", "log_index")
    )
    assert len(doomed) >= 3

    replacement = c.new_id()
    call = c.lots.functions.registerLot(replacement, 5, LotKind.PRODUCT, H1, H2)
    signed = c.maker.sign_transaction(build_transaction(w3, c.maker.address, call, gas=300_000))
    w3.provider.make_request("anvil_reorg", [3, [["0x" + signed.hex(), 0]]])  # type: ignore[arg-type]
    chain_sync(indexer=ChainIndexer(w3, manifest))

    con = duckdb.connect()
    con.execute(f"SET file_search_path = '{root}'")
    con.execute((root / "views.sql").read_text())
    retracted = set(con.execute("SELECT block_hash, log_index FROM lake_retractions").fetchall())
    assert retracted == doomed
    clean = con.execute("SELECT id, running_hash FROM lake_events ORDER BY id").fetchall()
    assert clean == list(ChainEvent.objects.order_by("id").values_list("id", "running_hash"))
    call_command("verify_lake")
