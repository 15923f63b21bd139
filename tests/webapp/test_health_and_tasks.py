"""Lag and health endpoints, the Celery task, and a node that goes away mid-backfill."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from requests.exceptions import ConnectionError as NodeUnreachable
from web3 import Web3

from contracts.chain.client import LocalSigner, get_web3
from contracts.chain.deploy import Manifest, read_manifest
from deploy.local.node import AnvilNode, free_port
from tests.contracts.consortium import Consortium
from tests.webapp.test_indexer import activity, chain_log_count
from webapp.chain.indexer import ChainIndexer, leader_lock
from webapp.chain.models import ChainEvent, Checkpoint, ParkedLog
from webapp.chain.verification import verify_mirror
from webapp.projections.models import LotVersion

pytestmark = [
    pytest.mark.integration,
    pytest.mark.node,
    pytest.mark.django_db(transaction=True),
]


def test_health_reports_head_indexed_block_lag_and_parked_logs(
    chain: Consortium, w3: Web3, manifest: Manifest
) -> None:
    client = Client()
    assert client.get("/health/indexer").status_code == 503  # nothing indexed yet

    activity(chain, rounds=1)
    ChainIndexer(w3, manifest).run_until_head()
    body = client.get("/health/indexer").json()
    assert body["status"] == "ok"
    (health,) = body["chains"]
    assert health["head_block"] == health["indexed_block"] == w3.eth.block_number
    assert health["lag_blocks"] == 0
    assert health["parked_logs"] == 0

    Checkpoint.objects.update(head_number=w3.eth.block_number + 100)
    ParkedLog.objects.create(
        chain_id=manifest.chain_id, block_number=1, block_hash="0x1", transaction_hash="0x2",
        log_index=0, address="0x0", topics=[], data="0x", error="unknown event topic",
    )  # fmt: skip
    degraded = client.get("/health/indexer")
    assert degraded.status_code == 503
    assert degraded.json()["chains"][0]["lag_blocks"] == 100

    metrics = client.get("/metrics").content.decode()
    assert f'provenant_indexer_lag_blocks{{chain_id="{manifest.chain_id}"}} 100' in metrics
    assert f'provenant_indexer_parked_logs{{chain_id="{manifest.chain_id}"}} 1' in metrics


def test_the_celery_task_indexes_and_projects_and_yields_to_a_running_leader(
    chain: Consortium, w3: Web3, manifest: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers import tasks

    activity(chain, rounds=1)
    monkeypatch.setattr(tasks, "chain", lambda: (w3, manifest))

    held, release = threading.Event(), threading.Event()

    def other_worker() -> None:  # its own database session, as another process would have
        with leader_lock(manifest.chain_id):
            held.set()
            release.wait(10)
        connection.close()

    leader = threading.Thread(target=other_worker)
    leader.start()
    try:
        assert held.wait(10)
        assert tasks.index_chain.apply().get() == 0  # another leader: nothing done
    finally:
        release.set()
        leader.join()
    assert ChainEvent.objects.count() == 0

    stored = tasks.index_chain.apply().get()
    assert stored == chain_log_count(w3, manifest) == ChainEvent.objects.count()
    assert LotVersion.objects.exists()  # projections applied by the same task


def test_a_node_that_goes_away_mid_backfill_loses_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    port = free_port()
    with AnvilNode(port=port, state_file=state) as node:
        get_web3.cache_clear()
        w3 = get_web3(node.url)
        signers = [LocalSigner.create() for _ in range(10)]
        consortium = Consortium.create(w3, signers, tmp_path)
        activity(consortium, rounds=3)
        manifest = read_manifest(1337, tmp_path)
        assert manifest is not None
        indexer = ChainIndexer(w3, manifest, max_range=8)
        assert indexer.run_once() is not None  # part of the range is in
        partial = ChainEvent.objects.count()
    # The node is gone: the next batch fails and writes nothing.
    with pytest.raises(NodeUnreachable):
        indexer.run_once()
    assert ChainEvent.objects.count() == partial

    with AnvilNode(port=port, state_file=state):
        indexer.run_until_head()
        assert ChainEvent.objects.count() == chain_log_count(w3, manifest)
        assert verify_mirror(w3, manifest).clean
    get_web3.cache_clear()
