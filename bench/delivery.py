"""Webhook delivery: throughput from one worker, and live lag behind the mirror.

1. ``webhook_deliveries_per_s``: drops and recreates a private database, migrates it and
   loads --events (100,000) synthetic `ChainEvent` rows with COPY, every one visible to
   one member organisation (a public `LotRegistered`, or a handoff naming its address),
   with the streams consumer's cursor past them. One ordered subscription (batch size 1,
   the issue's per-event figure) posts them, signed, to a receiver in its own process
   (`bench.webhook_receiver`: verifies every request with the `standardwebhooks`
   package, counts unique webhook-ids, checks the order). The worker is this process
   calling `streams_deliver_due` (what the `streams.deliver` task runs) in a loop until a
   run delivers nothing. Prints the rate and ``webhook_check: ok`` when the receiver got
   every event once, in order, every request verified. Then the same with batch size
   --batch (100): ``webhook_batched_events_per_s``. The receiver's own ceiling (signed
   single-event requests on one keep-alive connection) is printed first.
2. ``delivery_lag_p99_s``: anvil with 1-second blocks, the system deployed, a sender
   registering a lot every --interval (0.1 s) for --live-seconds (60). The pipeline loop
   (this process) runs the indexer to the head and notes the time it returns: the events
   it stored are committed then (`ChainEvent` has no creation time; this is the moment
   the indexer's transaction for them had committed). It then runs the consumers and,
   when the streams consumer applied something, kicks the delivery worker, as
   `workers.tasks.index_chain` queues `streams.deliver`. The delivery worker is a process
   of its own running `streams_deliver_due` on each kick, or every 2 s without one (the
   beat). Lag per event = the receiver's arrival time (its request read, just before it
   answers 204) minus the time its row was committed. Prints p50/p95/p99.

Every printed figure carries the load average when it was taken (the machine is shared).

    python bench/delivery.py [--events 100000] [--batch 100] [--live-seconds 60]
                             [--skip-throughput] [--skip-lag] [--profile]

``--profile`` runs the per-event delivery under cProfile (stderr). Uses the database in
DATABASE_URL (default postgres://postgres@127.0.0.1:5432/provenant_bench_delivery,
dropped and recreated: its name must contain "bench").
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import pstats
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import percentile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/provenant_bench_delivery")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
os.environ["PROVENANT_STREAMS_ALLOW_HTTP_LOOPBACK"] = "true"

H = b"\x11" * 32
ORG_ADDRESS = "0x" + "a1" * 20
OTHER = "0x" + "b2" * 20
SETTLE_DEADLINE_S = 120.0


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


# ---------------------------------------------------------------- 1. throughput


def _row(chain_id: int, i: int) -> tuple[Any, ...]:
    block = 1 + i // 4
    if i % 2:
        event, args = "LotRegistered", {"lotId": i, "creator": OTHER, "kind": 0, "quantity": 10}
    else:
        event = "HandoffInitiated"
        args = {"handoffId": i, "lotId": i, "sender": OTHER, "receiver": ORG_ADDRESS, "quantity": 1}
    return (
        chain_id,
        block,
        "0x" + f"{block:064x}",
        datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=block),
        "0x" + f"c{i:063x}",
        i % 4,
        i % 4,
        "Lots",
        "0x" + "22" * 20,
        event,
        json.dumps(args),
        "0x" + "00" * 32,
        "0x" + "00" * 32,
    )


def load_events(events: int) -> None:
    import psycopg
    from django.conf import settings
    from django.db import connection

    from webapp.chain.models import ConsumerCursor
    from webapp.streams.selectors import CONSUMER_NAME

    columns = (
        "chain_id, block_number, block_hash, block_timestamp, transaction_hash,"
        " transaction_index, log_index, contract, address, event, args, content_hash,"
        " running_hash"
    )
    chain_id = int(settings.CHAIN_ID)
    connection.close()
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        with conn.cursor().copy(f"COPY chain_chainevent ({columns}) FROM STDIN") as copy:
            for i in range(events):
                copy.write_row(_row(chain_id, i))
        conn.execute("ANALYZE chain_chainevent")
        last = conn.execute("SELECT max(id) FROM chain_chainevent").fetchone()
    ConsumerCursor.objects.update_or_create(
        chain_id=chain_id, name=CONSUMER_NAME, defaults={"event_id": last[0] if last else 0}
    )


def _organisation(address: str) -> Any:
    from contracts.chain.domain import Role
    from webapp.organisations.models import Organisation

    found, _ = Organisation.objects.update_or_create(
        slug="bench-member",
        defaults={"name": "Bench member", "roles": int(Role.MANUFACTURER), "address": address},
    )
    return found


def _subscribe(receiver: Any, organisation: Any, start: str, **options: Any) -> Any:
    from webapp.streams.models import Subscription
    from webapp.streams.services import Start, subscription_create

    Subscription.objects.update(state=Subscription.State.PAUSED)  # one active at a time
    created = subscription_create(
        organisation=organisation,
        name=f"bench {options}",
        url=receiver.url,
        start=Start(start),
        filters={},
        options=options,
    )
    receiver.use_secret(created.secret)
    receiver.reset()
    return created.subscription


def _deliver_all(profile: bool) -> float:
    """Run the task's function until a run delivers nothing; returns the seconds taken."""
    from webapp.streams.delivery import streams_deliver_due

    def run() -> None:
        while streams_deliver_due():
            pass

    began = time.perf_counter()
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(run)
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(35)
    else:
        run()
    return time.perf_counter() - began


def _check(receiver: Any, expected: int, label: str) -> bool:
    stats = receiver.stats()
    problems = []
    if stats["sequences"] != expected:
        problems.append(f"{stats['sequences']} events arrived, expected {expected}")
    if stats["duplicates"]:
        problems.append(f"{stats['duplicates']} repeated webhook-ids")
    if stats["unverified"]:
        problems.append(f"{stats['unverified']} requests failed verification")
    if not stats["in_order"]:
        problems.append("out of order")
    print(
        f"webhook_check ({label}): "
        + ("ok" if not problems else "; ".join(problems))
        + f"  ({stats['messages']} unique webhook-ids)"
    )
    return not problems


def measure_throughput(receiver: Any, events: int, batch: int, profile: bool) -> bool:
    from webapp.streams.signing import secret_generate

    started = time.perf_counter()
    load_events(events)
    print(f"loaded: {events} events ({time.perf_counter() - started:.1f} s)")
    print(
        f"receiver_ceiling_per_s: {receiver.ceiling(secret_generate()):.0f}"
        f"  (signed single-event requests, one connection; {load()})"
    )
    organisation = _organisation(ORG_ADDRESS)
    ok = True
    for size in (1, batch):
        _subscribe(receiver, organisation, "oldest", batch_size=size, batch_timeout_s=0)
        seconds = _deliver_all(profile and size == 1)
        name = "webhook_deliveries_per_s" if size == 1 else "webhook_batched_events_per_s"
        messages = receiver.stats()["messages"]
        print(
            f"{name}: {events / seconds:.0f}  ({events} events, {messages} requests of"
            f" batch size {size}, in {seconds:.1f} s; {load()})"
        )
        ok = _check(receiver, events, f"batch {size}") and ok
    return ok


# ---------------------------------------------------------------- 2. live lag


def _delivery_worker(kicks: Any, stop: Any) -> None:
    """The delivery worker: `streams_deliver_due` on every kick, or every 2 s (the beat)."""
    import django

    django.setup()
    from django.db import connections

    from webapp.streams.delivery import streams_deliver_due

    connections.close_all()
    while not stop.is_set():
        kicks.wait(2.0)
        kicks.clear()
        while streams_deliver_due():
            pass


def _sender(w3: Any, maker: Any, lots: Any, interval: float, stop: threading.Event) -> None:
    from contracts.chain.client import build_transaction
    from contracts.chain.domain import LotKind

    k = 0
    template = build_transaction(
        w3, maker.address, lots.functions.registerLot(10**9, 1, LotKind.COMPONENT, H, H)
    )
    template["gas"] = template["gas"] * 3 // 2
    while not stop.is_set():
        call = lots.functions.registerLot(10**9 + k, 1, LotKind.COMPONENT, H, H)
        tx = {**template, "nonce": template["nonce"] + k, "data": call._encode_transaction_data()}
        w3.eth.send_raw_transaction(maker.sign_transaction(tx))
        k += 1
        stop.wait(interval)


def _follow(
    indexer: Any,
    first: int,
    live_seconds: float,
    *,
    stop: threading.Event,
    sending: threading.Thread,
    kicks: Any,
) -> tuple[dict[int, float], list[float]]:
    """The mirror: index to the head, note when the new rows were committed, run the
    consumers and kick the delivery worker, until the sender has stopped. Returns
    {event id: commit time} and the 1-minute load average every 10 s."""
    from webapp.chain.models import ChainEvent
    from webapp.chain.pipeline import consumers_run

    chain_id = indexer.chain_id
    committed: dict[int, float] = {}
    last = first
    deadline = time.monotonic() + live_seconds
    load_during: list[float] = []
    next_load = time.monotonic()
    while time.monotonic() < deadline or sending.is_alive():
        if time.monotonic() >= deadline:
            stop.set()
            sending.join(10)
        stored = indexer.run_until_head()
        now = time.time()
        if stored:
            for event_id in ChainEvent.objects.filter(chain_id=chain_id, id__gt=last).values_list(
                "id", flat=True
            ):
                committed[event_id] = now
            last = max(committed)
        if consumers_run(chain_id=chain_id).get("streams"):
            kicks.set()
        if not stored:
            time.sleep(0.1)
        if time.monotonic() >= next_load:
            load_during.append(round(os.getloadavg()[0], 2))
            next_load += 10
    return committed, load_during


def measure_lag(receiver: Any, live_seconds: float, interval: float) -> bool:
    from django.db import connections
    from web3 import Web3

    from contracts.chain.client import LocalSigner, transact
    from contracts.chain.deploy import deploy_system
    from contracts.chain.domain import Role
    from contracts.chain.settings import LOCAL_CHAIN_ID
    from deploy.local.node import AnvilNode
    from webapp.chain.indexer import ChainIndexer
    from webapp.chain.pipeline import chain_sync

    with (
        AnvilNode(chain_id=LOCAL_CHAIN_ID, block_time=1) as node,
        tempfile.TemporaryDirectory() as tmp,
    ):
        w3 = Web3(Web3.HTTPProvider(node.url))
        admin = LocalSigner.create()
        manifest, system, _ = deploy_system(w3, admin, directory=Path(tmp))
        maker = LocalSigner.create()
        transact(
            w3,
            admin,
            system.lots.functions.registerParticipant(maker.address, int(Role.MANUFACTURER), H),
        )
        indexer = ChainIndexer(w3, manifest, confirmations=0)
        chain_sync(indexer=indexer)
        organisation = _organisation(maker.address)
        subscription = _subscribe(receiver, organisation, "newest")
        first = subscription.checkpoint

        context = multiprocessing.get_context("fork")
        kicks, stop_worker = context.Event(), context.Event()
        connections.close_all()
        worker = context.Process(target=_delivery_worker, args=(kicks, stop_worker), daemon=True)
        worker.start()
        stop = threading.Event()
        sending = threading.Thread(
            target=_sender, args=(w3, maker, system.lots, interval, stop), daemon=True
        )
        sending.start()

        committed, load_during = _follow(
            indexer, first, live_seconds, stop=stop, sending=sending, kicks=kicks
        )
        # Everything stored is delivered, then the worker stops.
        settle = time.monotonic() + SETTLE_DEADLINE_S
        while receiver.stats()["sequences"] < len(committed):
            if time.monotonic() > settle:
                print(f"delivery_lag: not everything arrived within {SETTLE_DEADLINE_S:.0f} s")
                break
            kicks.set()
            time.sleep(0.2)
        stop_worker.set()
        kicks.set()
        worker.join(10)
        if worker.is_alive():
            worker.terminate()

    arrivals = receiver.arrivals()
    lags = [arrivals[i] - committed[i] for i in committed if i in arrivals]
    ok = _check(receiver, len(committed), "live")
    p50, p95, p99 = (percentile(lags, q) for q in (0.5, 0.95, 0.99))
    print(
        f"delivery_lag: {len(lags)} events in {live_seconds:.0f} s at 1-second blocks;"
        f" p50 {p50:.3f} s, p95 {p95:.3f} s, max {max(lags, default=float('nan')):.3f} s"
    )
    print(f"delivery_lag_p99_s: {p99:.3f}  ({load()}; 1-min load during the run: {load_during})")
    return ok and bool(lags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--live-seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between lots")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-lag", action="store_true")
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()

    from bench.indexer import recreate_database

    recreate_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    from bench.webhook_receiver import BenchReceiver

    call_command("migrate", verbosity=0)
    receiver = BenchReceiver()
    ok = True
    try:
        if not options.skip_throughput:
            ok = measure_throughput(receiver, options.events, options.batch, options.profile)
        if not options.skip_lag:
            from django.db import connection

            with connection.cursor() as cursor:  # the live run starts from an empty store
                cursor.execute(
                    "TRUNCATE chain_chainevent, chain_consumercursor, chain_checkpoint,"
                    " chain_block, streams_subscription CASCADE"
                )
            ok = measure_lag(receiver, options.live_seconds, options.interval) and ok
    finally:
        receiver.stop()
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
