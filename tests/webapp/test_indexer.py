"""The chain indexer against a real anvil node and the real PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from django.core.management import CommandError, call_command
from web3 import Web3

from contracts.chain import events as event_decoding
from contracts.chain.deploy import Manifest
from contracts.chain.domain import LotKind
from tests.contracts.consortium import H1, H2, Consortium
from webapp.chain import indexer as indexer_module
from webapp.chain.indexer import ChainIndexer, IndexerBusy, leader_lock
from webapp.chain.models import Block, ChainEvent, Checkpoint, ParkedLog
from webapp.chain.verification import verify_mirror

pytestmark = [
    pytest.mark.integration,
    pytest.mark.node,
    pytest.mark.django_db(transaction=True),
]


def activity(c: Consortium, rounds: int = 3) -> None:
    """Lots, handoffs, a bundle, a transformation, a quarantine: every kind of event."""
    for _ in range(rounds):
        ore = c.register_lot(c.miner, quantity=1_000, kind=LotKind.RAW_MATERIAL)
        h = c.handoff(c.miner, c.refinery, ore, 600)
        c.accept(c.refinery, h, ore, c.miner)
        ingot = c.new_id()
        c.act(
            c.refinery,
            c.lots.functions.transform([ore], [600], [(ingot, 60, LotKind.COMPONENT, H1, H2)], H1),
        )
        pallet = c.new_id()
        c.act(c.refinery, c.lots.functions.bundle(pallet, [ingot], [60], H1, H2))
        c.act(c.reporter, c.lots.functions.setQuarantine(ore, "sensor alarm"))


def chain_log_count(w3: Web3, manifest: Manifest) -> int:
    return len(
        w3.eth.get_logs(
            {
                "fromBlock": manifest.deployment_block,
                "toBlock": w3.eth.block_number,
                "address": list(manifest.addresses.values()),
            }
        )
    )


def test_a_backfill_equals_the_chain(chain: Consortium, w3: Web3, manifest: Manifest) -> None:
    activity(chain)
    stored = ChainIndexer(w3, manifest).run_until_head()

    assert stored == chain_log_count(w3, manifest) == ChainEvent.objects.count()
    checkpoint = Checkpoint.objects.get(chain_id=manifest.chain_id)
    assert checkpoint.block_number == w3.eth.block_number
    assert checkpoint.block_hash == w3.eth.get_block("latest")["hash"].to_0x_hex()
    names = set(ChainEvent.objects.values_list("event", flat=True))
    assert {
        "ParticipantRegistered",
        "LotRegistered",
        "TransferSingle",
        "HandoffInitiated",
        "HandoffAccepted",
        "LotsTransformed",
        "LotsBundled",
        "QuarantineSet",
    } <= names
    handoff = ChainEvent.objects.filter(event="HandoffInitiated").first()
    assert handoff is not None
    assert handoff.args["sender"] == chain.miner.address
    assert handoff.contract == "Lots"
    assert verify_mirror(w3, manifest).clean


def test_a_replayed_range_adds_nothing(chain: Consortium, w3: Web3, manifest: Manifest) -> None:
    activity(chain, rounds=1)
    indexer = ChainIndexer(w3, manifest)
    indexer.run_until_head()
    before = list(ChainEvent.objects.values_list("block_hash", "log_index", "running_hash"))

    Checkpoint.objects.filter(chain_id=manifest.chain_id).update(
        block_number=manifest.deployment_block - 1, block_hash=""
    )
    indexer.run_until_head()

    after = list(ChainEvent.objects.values_list("block_hash", "log_index", "running_hash"))
    assert after == before
    assert verify_mirror(w3, manifest).clean


def test_small_ranges_and_a_refusing_node_still_cover_everything(
    chain: Consortium, w3: Web3, manifest: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    activity(chain, rounds=2)
    expected = chain_log_count(w3, manifest)
    real_request = w3.provider.make_request
    calls: list[tuple[int, int]] = []

    def capped(method, params):  # type: ignore[no-untyped-def]
        if method == "eth_getLogs":
            lo, hi = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
            calls.append((lo, hi))
            if hi - lo + 1 > 4:  # as Besu answers past rpc-max-logs-range
                return {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "error": {"code": -32005, "message": "exceeds max block range 4"},
                }
        return real_request(method, params)

    monkeypatch.setattr(w3.provider, "make_request", capped)
    ChainIndexer(w3, manifest, max_range=64).run_until_head()

    assert any(hi - lo + 1 > 4 for lo, hi in calls)  # it tried big ranges and halved
    assert ChainEvent.objects.count() == expected


def test_a_reorg_of_depth_3_leaves_the_mirror_equal_to_the_new_chain(
    chain: Consortium, w3: Web3, manifest: Manifest
) -> None:
    c = chain
    activity(c, rounds=1)
    doomed = [c.register_lot(c.miner) for _ in range(3)]  # one block each
    ChainIndexer(w3, manifest).run_until_head()
    assert ChainEvent.objects.filter(event="LotRegistered", args__lotId=doomed[0]).exists()

    # Replace the last three blocks with one that registers a different lot.
    replacement = c.new_id()
    call = c.lots.functions.registerLot(replacement, 5, LotKind.PRODUCT, H1, H2)
    from contracts.chain.client import build_transaction

    tx = build_transaction(w3, c.maker.address, call, gas=300_000)
    raw = "0x" + c.maker.sign_transaction(tx).hex()
    old_head = w3.eth.get_block("latest")["hash"]
    w3.provider.make_request("anvil_reorg", [3, [[raw, 0]]])
    assert w3.eth.get_block("latest")["hash"] != old_head

    result = ChainIndexer(w3, manifest).run_once()
    ChainIndexer(w3, manifest).run_until_head()

    assert result is not None
    assert result.reorg_depth >= 3
    lots = set(
        ChainEvent.objects.filter(event="LotRegistered").values_list("args__lotId", flat=True)
    )
    assert replacement in lots
    assert not lots & set(doomed)
    assert ChainEvent.objects.count() == chain_log_count(w3, manifest)
    assert verify_mirror(w3, manifest).clean


def test_a_tampered_row_is_found_by_verify_mirror(
    chain: Consortium, w3: Web3, manifest: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    activity(chain, rounds=1)
    ChainIndexer(w3, manifest).run_until_head()
    monkeypatch.setenv("PROVENANT_DEPLOYMENTS_DIR", str(chain.deployed_in))
    monkeypatch.setattr("django.conf.settings.CHAIN_RPC_URL", chain.w3.provider.endpoint_uri)
    call_command("verify_mirror")  # clean: no error

    row = ChainEvent.objects.filter(event="HandoffInitiated").get()
    row.args = {**row.args, "quantity": row.args["quantity"] + 1}
    row.save()
    with pytest.raises(CommandError, match="1 altered"):
        call_command("verify_mirror")

    row.delete()
    report = verify_mirror(w3, manifest)
    assert len(report.missing) == 1
    assert report.broken_chain


def test_a_tampered_block_time_is_found_by_verify_mirror(
    chain: Consortium, w3: Web3, manifest: Manifest
) -> None:
    from datetime import timedelta

    activity(chain, rounds=1)
    ChainIndexer(w3, manifest).run_until_head()
    block = Block.objects.order_by("number").last()
    assert block is not None
    Block.objects.filter(pk=block.pk).update(timestamp=block.timestamp - timedelta(days=1))

    report = verify_mirror(w3, manifest)
    assert report.altered == [f"block {block.number}: timestamp differs from the chain"]


def test_a_crash_mid_batch_loses_and_duplicates_nothing(
    chain: Consortium, w3: Web3, manifest: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    activity(chain, rounds=1)
    original = indexer_module._insert_events

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        original(*args, **kwargs)  # the rows are written, then the worker dies
        raise RuntimeError("worker killed")

    monkeypatch.setattr(indexer_module, "_insert_events", crash)
    with pytest.raises(RuntimeError, match="worker killed"):
        ChainIndexer(w3, manifest).run_until_head()
    # Blocks went in before the crash inside the same transaction: all rolled back.
    assert Block.objects.count() == 0
    assert not Checkpoint.objects.exclude(block_hash="").exists()

    assert ChainEvent.objects.count() == 0
    monkeypatch.setattr(indexer_module, "_insert_events", original)
    ChainIndexer(w3, manifest).run_until_head()
    assert ChainEvent.objects.count() == chain_log_count(w3, manifest)
    assert verify_mirror(w3, manifest).clean


def test_an_undecodable_log_is_parked_and_later_events_still_land(
    chain: Consortium, w3: Web3, manifest: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = chain
    lot = c.register_lot(c.miner)
    c.act(c.reporter, c.lots.functions.setQuarantine(lot, "shock detected"))
    later = c.register_lot(c.miner)

    # This indexer's ABI lacks QuarantineSet, as an older release would.
    specs = dict(event_decoding.event_specs())
    unknown = next(t for t, s in specs.items() if s.name == "QuarantineSet")
    del specs[unknown]
    monkeypatch.setattr(event_decoding, "event_specs", lambda: specs)
    ChainIndexer(w3, manifest).run_until_head()

    parked = ParkedLog.objects.get()
    assert parked.topics[0] == "0x" + unknown.hex()
    assert "unknown event topic" in parked.error
    assert ChainEvent.objects.filter(event="LotRegistered", args__lotId=later).exists()


def test_only_one_indexer_leads_per_chain(manifest: Manifest) -> None:
    errors: list[BaseException] = []
    entered = threading.Event()
    release = threading.Event()

    def leader() -> None:
        from django.db import connection

        with leader_lock(manifest.chain_id):
            entered.set()
            release.wait(10)
        connection.close()

    t = threading.Thread(target=leader)
    t.start()
    assert entered.wait(10)
    try:
        with pytest.raises(IndexerBusy), leader_lock(manifest.chain_id):
            pass
    except BaseException as exc:  # pragma: no cover - reported below
        errors.append(exc)
    finally:
        release.set()
        t.join()
    assert not errors
    with leader_lock(manifest.chain_id):  # free again once the leader is gone
        pass


def test_an_indexer_process_killed_mid_backfill_resumes_without_loss_or_duplicates(
    chain: Consortium, w3: Web3, manifest: Manifest
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from django.db import connection

    activity(chain, rounds=6)
    expected = chain_log_count(w3, manifest)
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "PROVENANT_RPC_URL": w3.provider.endpoint_uri,  # type: ignore[attr-defined]
        "PROVENANT_DEPLOYMENTS_DIR": str(chain.deployed_in),
        "INDEXER_MAX_RANGE": "1",  # one block per transaction: many commits to kill between
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "index_chain", "--follow"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        # A loaded machine (a parallel run) can take many seconds to start the process.
        deadline = time.monotonic() + 120
        while ChainEvent.objects.count() < expected // 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(10)
    partial = ChainEvent.objects.count()
    assert 0 < partial < expected

    ChainIndexer(w3, manifest).run_until_head()
    assert ChainEvent.objects.count() == expected
    assert verify_mirror(w3, manifest).clean
