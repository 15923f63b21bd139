"""Pipeline throughput and live lag, measured on local nodes and the real PostgreSQL.

1. Starts two anvil nodes (two chain ids, one database), deploys on each, and generates
   at least ``--events`` contract events on each:

   * the new-lot chain: transformations that each mint 50 output lots (LotRegistered +
     TransferSingle per output), sent as pipelined raw transactions;
   * the update chain: a few hundred lots handed off again and again — each round every
     lot is offered (HandoffInitiated + TransferSingle into escrow), accepted
     (HandoffAccepted + TransferSingle out of escrow), quarantined (QuarantineSet) and
     released (QuarantineCleared) — so every batch the projections apply touches the same
     lots, balances and participants several times.

2. Backfills each chain through ``chain_sync`` (the event store, then every registered
   consumer) into an empty PostgreSQL database and prints ``pipeline_new_lots: N events/s``
   and ``pipeline_updates: N events/s``.
3. Decodes the same logs (both chains) through web3's own path (contract ``get_logs`` +
   ``process_log``) and prints ``web3_decode: N events/s``.
4. Switches the new-lot node to 1-second blocks, keeps sending transactions while
   ``chain_sync`` follows the head, and prints ``live_lag_p99: S s`` — for each block, the
   time from the block's timestamp to the moment its events were stored and applied.
5. Last line: ``pipeline_vs_web3_decode: R`` = the slower pipeline rate / web3 decode rate.

    python bench/indexer.py [--events 100000] [--profile]

``--profile`` runs each backfill under cProfile and prints where the time went (stderr).
Every wait has a deadline and says what it was waiting for when it gives up. Uses the
database in DATABASE_URL (default postgres://postgres@127.0.0.1:5432/provenant_bench,
dropped and recreated).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
BENCH_DB = "provenant_bench"
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

H = b"\x11" * 32
GENERATE_DEADLINE_S = 900.0


def recreate_database(url: str) -> None:
    """Drop and create the benchmark database `url` names (only a name with "bench")."""
    from urllib.parse import urlparse

    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if "bench" not in name:
        # The benchmarks drop the database they are given: never one that is not theirs.
        raise SystemExit(
            f"refusing to drop database {name!r}: a benchmark's DATABASE_URL must name a"
            " database with 'bench' in its name"
        )
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


@dataclass
class GeneratedChain:
    label: str
    w3: Any
    manifest: Any
    system: Any
    maker: Any
    events: int
    head: int


def _send_raw(w3: Any, raw: list[str]) -> None:
    """Send signed transactions in JSON-RPC batches of 50."""
    for start in range(0, len(raw), 50):
        batch = [("eth_sendRawTransaction", [tx]) for tx in raw[start : start + 50]]
        for resp in w3.provider.make_batch_request(batch):
            if "error" in resp:
                raise SystemExit(f"send failed: {resp['error']}")


def _logs(w3: Any, manifest: Any, head: int) -> list[Any]:
    return list(
        w3.eth.get_logs(
            {"fromBlock": 0, "toBlock": head, "address": list(manifest.addresses.values())}
        )
    )


def _deploy(w3: Any, directory: Path) -> tuple[Any, Any, Any]:
    from contracts.chain.client import LocalSigner
    from contracts.chain.deploy import deploy_system

    admin = LocalSigner.create()
    manifest, system, _ = deploy_system(w3, admin, directory=directory)
    return admin, manifest, system


def new_lot_chain(w3: Any, events: int, directory: Path) -> GeneratedChain:
    """Transformations minting 50 lots each, under anvil's automine."""
    from contracts.chain.client import LocalSigner, build_transaction, transact
    from contracts.chain.domain import LotKind, Role

    admin, manifest, system = _deploy(w3, directory)
    maker = LocalSigner.create()
    lots = system.lots
    transact(
        w3, admin, lots.functions.registerParticipant(maker.address, int(Role.MANUFACTURER), H)
    )
    transact(w3, maker, lots.functions.registerLot(1, 10**12, LotKind.RAW_MATERIAL, H, H))
    outputs_per_tx = 50
    nonce = w3.eth.get_transaction_count(maker.address)
    template = build_transaction(
        w3, maker.address, lots.functions.transform([1], [1], [], H), gas=10_000_000
    )
    next_id = 10
    events_per_tx = 2 * outputs_per_tx + 2  # burn + per output (registered + mint) + edges
    txs = -(-events // events_per_tx)
    raw = []
    for i in range(txs):
        outs = []
        for _ in range(outputs_per_tx):
            next_id += 1
            outs.append((next_id, 1000, LotKind.COMPONENT, H, H))
        call = lots.functions.transform([1], [1], outs, H)
        tx = {**template, "nonce": nonce + i, "data": call._encode_transaction_data()}
        raw.append("0x" + maker.sign_transaction(tx).hex())
    _send_raw(w3, raw)
    # anvil's automine can stall with transactions left pending under many pipelined
    # batches: mine explicitly when nothing moved for a second, and give up loudly.
    deadline = time.monotonic() + GENERATE_DEADLINE_S
    last, since = -1, time.monotonic()
    while (mined := w3.eth.get_transaction_count(maker.address)) < nonce + txs:
        now = time.monotonic()
        if now > deadline:
            raise SystemExit(
                f"new-lot chain: {nonce + txs - mined} transactions still pending after"
                f" {GENERATE_DEADLINE_S:.0f} s; giving up"
            )
        if mined != last:
            last, since = mined, now
        elif now - since > 1.0:
            w3.provider.make_request("evm_mine", [])
            since = now
        time.sleep(0.1)
    head = w3.eth.block_number
    count = len(_logs(w3, manifest, head))
    return GeneratedChain("new_lots", w3, manifest, system, maker, count, head)


def _mine_until(w3: Any, sender: str, nonce: int, deadline: float, what: str) -> None:
    """Automine is off: mine blocks until `sender`'s transactions up to `nonce` are in."""
    while (mined := w3.eth.get_transaction_count(sender)) < nonce:
        if time.monotonic() > deadline:
            raise SystemExit(
                f"update chain: {nonce - mined} {what} transactions still pending after"
                f" {GENERATE_DEADLINE_S:.0f} s; giving up"
            )
        w3.provider.make_request("evm_mine", [])


def update_chain(w3: Any, events: int, directory: Path, lots_count: int = 400) -> GeneratedChain:
    """The same lots handed off, accepted, quarantined and released, round after round.

    Automine is off: each phase (one sender) is sent, then mined in full blocks, before the
    next phase needs its effects (an accept needs the handoff; a quarantined lot cannot be
    handed off).
    """
    from contracts.chain.client import LocalSigner, build_transaction, transact
    from contracts.chain.domain import LotKind, Role

    admin, manifest, system = _deploy(w3, directory)
    maker, distributor, reporter = (LocalSigner.create() for _ in range(3))
    lots = system.lots
    for signer, role in (
        (maker, Role.MANUFACTURER),
        (distributor, Role.DISTRIBUTOR),
        (reporter, Role.REPORTER),
    ):
        transact(w3, admin, lots.functions.registerParticipant(signer.address, int(role), H))
    deadline = time.monotonic() + GENERATE_DEADLINE_S
    w3.provider.make_request("evm_setAutomine", [False])

    def phase(signer: Any, calls: list[Any], what: str) -> None:
        # The first call's estimate (with a margin) serves the whole phase: the calls are
        # the same function on other lots, and the state they need is mined.
        first = build_transaction(w3, signer.address, calls[0])
        first["gas"] = first["gas"] * 3 // 2
        nonce = first["nonce"]
        raw = []
        for i, call in enumerate(calls):
            tx = {**first, "nonce": nonce + i, "data": call._encode_transaction_data()}
            raw.append("0x" + signer.sign_transaction(tx).hex())
        _send_raw(w3, raw)
        _mine_until(w3, signer.address, nonce + len(calls), deadline, what)

    ids = list(range(1, lots_count + 1))
    register = lots.functions.registerLot
    phase(maker, [register(i, 10**9, LotKind.RAW_MATERIAL, H, H) for i in ids], "registration")
    handoff_id = 0
    rounds = -(-(events - 2 * lots_count) // (6 * lots_count))
    for _ in range(max(1, rounds)):
        phase(
            maker,
            [lots.functions.initiateHandoff(i, distributor.address, 1) for i in ids],
            "handoff",
        )
        accepts = [
            lots.functions.acceptHandoff(handoff_id + k, i, maker.address, distributor.address)
            for k, i in enumerate(ids, start=1)
        ]
        phase(distributor, accepts, "accept")
        handoff_id += lots_count
        phase(reporter, [lots.functions.setQuarantine(i, "sensor alarm") for i in ids], "hold")
        phase(reporter, [lots.functions.clearQuarantine(i, "sensor ok") for i in ids], "release")
    w3.provider.make_request("evm_setAutomine", [True])
    head = w3.eth.block_number
    count = len(_logs(w3, manifest, head))
    expected = 2 * lots_count + max(1, rounds) * 6 * lots_count
    if count < expected:  # a reverted transaction would leave its events out
        raise SystemExit(f"update chain: {count} events, expected at least {expected}")
    return GeneratedChain("updates", w3, manifest, system, maker, count, head)


def _profiled(enabled: bool, label: str, fn: Callable[[], Any]) -> Any:
    if not enabled:
        return fn()
    profile = cProfile.Profile()
    result = profile.runcall(fn)
    print(f"---- profile: {label}", file=sys.stderr)
    stats = pstats.Stats(profile, stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    return result


def measure_pipeline(chain: GeneratedChain, profile: bool) -> float:
    """Backfill one chain through the whole pipeline; returns events/s."""
    from webapp.chain.indexer import ChainIndexer
    from webapp.chain.models import ChainEvent, Checkpoint, ConsumerCursor
    from webapp.chain.pipeline import chain_sync

    indexer = ChainIndexer(chain.w3, chain.manifest, confirmations=0)
    t0 = time.perf_counter()
    result = _profiled(profile, chain.label, lambda: chain_sync(indexer=indexer))
    seconds = time.perf_counter() - t0
    chain_id = chain.manifest.chain_id
    stored = ChainEvent.objects.filter(chain_id=chain_id).count()
    # The node's own count up to where the mirror stands (anvil may answer eth_getLogs for
    # the newest block a moment after it reports the block).
    chain.head = Checkpoint.objects.get(chain_id=chain_id).block_number
    chain.events = len(_logs(chain.w3, chain.manifest, chain.head))
    if not result.stored == stored == chain.events:
        raise SystemExit(f"{chain.label}: stored {result.stored}, the node has {chain.events}")
    parked = ConsumerCursor.objects.filter(chain_id=chain_id, parked_at__isnull=False)
    if parked.exists():
        raise SystemExit(f"{chain.label}: parked consumers: {[str(c) for c in parked]}")
    # Every consumer applied every event: a rate of the store alone would flatter the pipeline.
    last = ChainEvent.objects.filter(chain_id=chain_id).order_by("-id").values_list("id", flat=True)
    behind = ConsumerCursor.objects.filter(chain_id=chain_id, event_id__lt=last[0])
    if behind.exists():
        raise SystemExit(f"{chain.label}: consumers behind the store: {[str(c) for c in behind]}")
    rate = stored / seconds
    print(
        f"pipeline_{chain.label}: {rate:,.0f} events/s ({stored} events in"
        f" {chain.head} blocks stored and applied by {', '.join(result.applied)}"
        f" in {seconds:.1f} s)"
    )
    return rate


def measure_web3_decode(chains: list[GeneratedChain]) -> float:
    """web3's own decoding path (``process_log`` per log) over every chain's logs."""
    decoded = 0
    seconds = 0.0
    for chain in chains:
        t0 = time.perf_counter()
        raw_logs = chain.w3.eth.get_logs(
            {
                "fromBlock": 0,
                "toBlock": chain.head,
                "address": list(chain.manifest.addresses.values()),
            }
        )
        by_topic = {
            (contract.address, bytes.fromhex(str(event.topic).removeprefix("0x"))): event
            for contract in chain.system.all.values()
            for event in contract.events
        }
        for lg in raw_logs:
            by_topic[(lg["address"], bytes(lg["topics"][0]))].process_log(lg)
            decoded += 1
        seconds += time.perf_counter() - t0
    rate = decoded / seconds
    print(f"web3_decode: {rate:,.0f} events/s ({decoded} events in {seconds:.1f} s)")
    return rate


def measure_live_lag(chain: GeneratedChain, live_seconds: float) -> None:
    from contracts.chain.client import build_transaction
    from contracts.chain.domain import LotKind
    from webapp.chain.indexer import ChainIndexer
    from webapp.chain.models import ChainEvent, Checkpoint
    from webapp.chain.pipeline import chain_sync

    w3, maker, lots = chain.w3, chain.maker, chain.system.lots
    indexer = ChainIndexer(w3, chain.manifest, confirmations=0)
    w3.provider.make_request("evm_setIntervalMining", [1])
    lags: list[float] = []
    stop = threading.Event()

    def sender() -> None:
        k = 0
        while not stop.is_set():
            call = lots.functions.registerLot(10**9 + k, 1, LotKind.COMPONENT, H, H)
            tx = build_transaction(w3, maker.address, call, gas=300_000)
            w3.eth.send_raw_transaction(maker.sign_transaction(tx))
            k += 1
            time.sleep(0.05)

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    deadline = time.monotonic() + live_seconds
    chain_id = chain.manifest.chain_id
    while time.monotonic() < deadline:
        before = Checkpoint.objects.get(chain_id=chain_id).block_number
        if chain_sync(indexer=indexer).stored == 0:
            time.sleep(0.1)
            continue
        committed = time.time()
        after = Checkpoint.objects.get(chain_id=chain_id).block_number
        for number in range(before + 1, after + 1):
            if ChainEvent.objects.filter(chain_id=chain_id, block_number=number).exists():
                lags.append(committed - w3.eth.get_block(number)["timestamp"])
    stop.set()
    thread.join(5)
    lags.sort()
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else float("nan")
    median = statistics.median(lags) if lags else float("nan")
    print(f"live_blocks: {len(lags)} (block period 1 s, median lag {median:.2f} s)")
    print(f"live_lag_p99: {p99:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000, help="events per chain")
    parser.add_argument("--live-seconds", type=float, default=20.0)
    parser.add_argument("--profile", action="store_true", help="cProfile each backfill")
    args = parser.parse_args()

    recreate_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from web3 import Web3

    from contracts.chain.settings import LOCAL_CHAIN_ID
    from deploy.local.node import AnvilNode

    with (
        AnvilNode(chain_id=LOCAL_CHAIN_ID) as node_a,
        AnvilNode(chain_id=LOCAL_CHAIN_ID + 1) as node_b,
        tempfile.TemporaryDirectory() as tmp,
    ):
        chains = []
        for label, node, generate in (
            ("new-lot", node_a, new_lot_chain),
            ("update", node_b, update_chain),
        ):
            started = time.perf_counter()
            chain = generate(Web3(Web3.HTTPProvider(node.url)), args.events, Path(tmp))
            print(
                f"generated ({label} chain): {chain.events} events in {chain.head} blocks"
                f" ({time.perf_counter() - started:.1f} s)"
            )
            chains.append(chain)
        rates = [measure_pipeline(chain, args.profile) for chain in chains]
        web3_rate = measure_web3_decode(chains)
        measure_live_lag(chains[0], args.live_seconds)
        print(f"pipeline_vs_web3_decode: {min(rates) / web3_rate:.2f}")


if __name__ == "__main__":
    main()
