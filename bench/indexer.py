"""Pipeline throughput and live lag, measured on a local node and the real PostgreSQL.

1. Starts anvil, deploys, and generates at least 100,000 contract events: transformations
   that each mint 50 output lots (LotRegistered + TransferSingle per output), mixed with
   handoffs, sent as pipelined raw transactions.
2. Backfills them through ``chain_sync`` (the event store, then every registered consumer)
   into an empty PostgreSQL database and prints ``pipeline: N events/s``.
3. Decodes the same logs through web3's own path (contract ``get_logs`` +
   ``process_log``) and prints ``web3_decode: N events/s``.
4. Switches the node to 1-second blocks, keeps sending transactions while ``chain_sync``
   follows the head, and prints ``live_lag_p99: S s`` — for each block, the time from the
   block's timestamp to the moment its events were stored and applied.
5. Last line: ``pipeline_vs_web3_decode: R`` = pipeline rate / web3 decode rate.

    python bench/indexer.py [--events 100000]

Uses the database in DATABASE_URL (default postgres://postgres@127.0.0.1:5432/
provenant_bench, dropped and recreated).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
BENCH_DB = "provenant_bench"
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")


def recreate_database(url: str) -> None:
    from urllib.parse import urlparse

    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--live-seconds", type=float, default=20.0)
    args = parser.parse_args()

    recreate_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from web3 import Web3

    from contracts.chain.client import LocalSigner, build_transaction, transact
    from contracts.chain.deploy import deploy_system
    from contracts.chain.domain import LotKind, Role
    from deploy.local.node import AnvilNode
    from webapp.chain.indexer import ChainIndexer
    from webapp.chain.models import ChainEvent, Checkpoint
    from webapp.chain.pipeline import chain_sync

    h = b"\x11" * 32
    outputs_per_tx = 50
    with AnvilNode() as node, tempfile.TemporaryDirectory() as tmp:
        w3 = Web3(Web3.HTTPProvider(node.url))
        admin, maker = LocalSigner.create(), LocalSigner.create()
        manifest, system, _ = deploy_system(w3, admin, directory=Path(tmp))
        lots = system.lots
        transact(
            w3, admin, lots.functions.registerParticipant(maker.address, int(Role.MANUFACTURER), h)
        )
        transact(w3, maker, lots.functions.registerLot(1, 10**12, LotKind.RAW_MATERIAL, h, h))

        # ---- generate
        started = time.perf_counter()
        nonce = w3.eth.get_transaction_count(maker.address)
        template = build_transaction(
            w3, maker.address, lots.functions.transform([1], [1], [], h), gas=10_000_000
        )
        next_id = [10]

        def transform_tx(n: int) -> str:
            outs = []
            for _ in range(outputs_per_tx):
                next_id[0] += 1
                outs.append((next_id[0], 1000, LotKind.COMPONENT, h, h))
            call = lots.functions.transform([1], [1], outs, h)
            tx = {**template, "nonce": n, "data": call._encode_transaction_data()}
            return "0x" + maker.sign_transaction(tx).hex()

        events_per_tx = 2 * outputs_per_tx + 2  # burn + per output (registered + mint) + edges
        txs = -(-args.events // events_per_tx)
        batch: list[tuple[str, list[Any]]] = []
        for i in range(txs):
            batch.append(("eth_sendRawTransaction", [transform_tx(nonce + i)]))
            if len(batch) == 50 or i == txs - 1:
                for resp in w3.provider.make_batch_request(batch):  # type: ignore[attr-defined]
                    if "error" in resp:
                        raise SystemExit(f"send failed: {resp['error']}")
                batch = []
        # anvil's automine can stall with transactions left pending under many pipelined
        # batches: mine explicitly when nothing moved for a second, and give up loudly.
        deadline = time.monotonic() + 600
        last, since = -1, time.monotonic()
        while (mined := w3.eth.get_transaction_count(maker.address)) < nonce + txs:
            now = time.monotonic()
            if now > deadline:
                raise SystemExit(
                    f"{nonce + txs - mined} transactions still pending after 600 s; giving up"
                )
            if mined != last:
                last, since = mined, now
            elif now - since > 1.0:
                w3.provider.make_request("evm_mine", [])
                since = now
            time.sleep(0.1)
        head = w3.eth.block_number
        generated = len(
            w3.eth.get_logs(
                {"fromBlock": 0, "toBlock": head, "address": list(manifest.addresses.values())}
            )
        )
        print(
            f"generated: {generated} events in {head} blocks "
            f"({time.perf_counter() - started:.1f} s)"
        )

        # ---- backfill: the whole pipeline (event store, then every consumer)
        indexer = ChainIndexer(w3, manifest, confirmations=0)
        t0 = time.perf_counter()
        result = chain_sync(indexer=indexer)
        backfill_s = time.perf_counter() - t0
        stored = result.stored
        assert stored == generated == ChainEvent.objects.count(), (stored, generated)
        backfill_rate = stored / backfill_s
        print(
            f"pipeline: {backfill_rate:,.0f} events/s ({stored} events stored and applied by"
            f" {', '.join(result.applied)} in {backfill_s:.1f} s)"
        )

        # ---- web3's own decoding path over the same logs
        t0 = time.perf_counter()
        decoded = 0
        contracts_by_address = {c.address: c for c in system.all.values()}
        raw_logs = w3.eth.get_logs(
            {"fromBlock": 0, "toBlock": head, "address": list(manifest.addresses.values())}
        )
        by_topic = {
            (address, bytes.fromhex(str(event.topic).removeprefix("0x"))): event
            for address, contract in contracts_by_address.items()
            for event in contract.events
        }
        for lg in raw_logs:
            by_topic[(lg["address"], bytes(lg["topics"][0]))].process_log(lg)
            decoded += 1
        web3_s = time.perf_counter() - t0
        web3_rate = decoded / web3_s
        print(f"web3_decode: {web3_rate:,.0f} events/s ({decoded} events in {web3_s:.1f} s)")

        # ---- live
        w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]
        lags: list[float] = []
        stop = threading.Event()

        def sender() -> None:
            k = 0
            while not stop.is_set():
                call = lots.functions.registerLot(10**9 + k, 1, LotKind.COMPONENT, h, h)
                tx = build_transaction(w3, maker.address, call, gas=300_000)
                raw = maker.sign_transaction(tx)
                w3.eth.send_raw_transaction(raw)
                k += 1
                time.sleep(0.05)

        thread = threading.Thread(target=sender, daemon=True)
        thread.start()
        deadline = time.monotonic() + args.live_seconds
        while time.monotonic() < deadline:
            before = Checkpoint.objects.get(chain_id=manifest.chain_id).block_number
            if chain_sync(indexer=indexer).stored == 0:
                time.sleep(0.1)
                continue
            committed = time.time()
            after = Checkpoint.objects.get(chain_id=manifest.chain_id).block_number
            for number in range(before + 1, after + 1):
                if ChainEvent.objects.filter(block_number=number).exists():
                    ts = w3.eth.get_block(number)["timestamp"]
                    lags.append(committed - ts)
        stop.set()
        thread.join(5)
        lags.sort()
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else float("nan")
        median = statistics.median(lags) if lags else float("nan")
        print(f"live_blocks: {len(lags)} (block period 1 s, median lag {median:.2f} s)")
        print(f"live_lag_p99: {p99:.2f} s")
        print(f"pipeline_vs_web3_decode: {backfill_rate / web3_rate:.2f}")


if __name__ == "__main__":
    main()
