"""Lineage trace latency on a large graph in PostgreSQL, and proof verification time.

1. Builds a lineage graph of --lots lots (default 100,000) over 10 levels in the
   projection tables (COPY): level 0 is raw material; each lot of levels 1-9 is the output
   of a transformation with 1-3 inputs from the level below, drawn near its own position
   (within 40 lots for half of them, 400 or 3,000 for the rest: product lines mostly stay
   apart, some blend); every fifth level packs lots into bundles instead. Indexes as the
   migrations leave them, then ANALYZE.
2. Runs the app's own `lot_trace` upstream from --starts random lots of the top levels and
   downstream from as many of the bottom levels (depth 10), and prints
   ``trace_p50: X ms``, ``trace_p95: Y ms``, ``trace_p95_upto_10k_nodes: Z ms`` and
   ``largest_trace_nodes: N``.
3. Starts anvil, deploys, records a handoff, builds the proof of its event and prints
   ``proof_verify: Z ms`` — the median time of `contracts.proofs.verify.verify_document` on it,
   offline (no node).

    python bench/trace.py [--lots 100000] [--starts 400]

Uses the database in DATABASE_URL (default postgres://postgres@127.0.0.1:5432/
provenant_bench, dropped and recreated).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/provenant_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

from bench.indexer import recreate_database

CHAIN = 990_001
LEVELS = 10
ZERO = "0x" + "00" * 32
ACTOR = "0x" + "11" * 20


def build_graph(lots: int, seed: int = 7) -> tuple[list[list[int]], int]:
    """COPY the graph into the projections; returns lot ids per level and the edge count."""
    from django.db import connection

    rng = random.Random(seed)
    per_level = lots // LEVELS
    levels = [[level * per_level + i + 1 for i in range(per_level)] for level in range(LEVELS)]
    lot_rows, edge_rows, bundle_rows = io.StringIO(), io.StringIO(), io.StringIO()
    transformation = 0
    for level, ids in enumerate(levels):
        block = level + 1
        kind = 1 if level == 0 else (4 if level % 5 == 0 else 2)
        for lot_id in ids:
            lot_rows.write(
                f"{CHAIN}\t{block}\t0\t\\N\t{lot_id}\t{kind}\t{ACTOR}\t1000\t{ZERO}\t{ZERO}\tf\t\n"
            )
        if level == 0:
            continue
        below = levels[level - 1]
        for position, lot_id in enumerate(ids):
            # Most lines draw from near neighbours; some blend from further away, which is
            # what makes the large traces (thousands of lots) in the mix.
            spread = rng.choice((40, 40, 400, 3000))
            window = below[max(0, position - spread) : position + spread]
            inputs = rng.sample(window, k=min(len(window), rng.randint(1, 3)))
            if kind == 4:
                for source in inputs:
                    bundle_rows.write(f"{CHAIN}\t{block}\t0\t\\N\t{lot_id}\t{source}\t10\n")
                continue
            transformation += 1
            for source in inputs:
                edge_rows.write(
                    f"{CHAIN}\t{block}\t0\t\\N\t{transformation}\t{ACTOR}\t{source}\t300\t"
                    f"{lot_id}\t900\t{ZERO}\n"
                )
    with connection.cursor() as cursor:
        copy = cursor.cursor.copy  # psycopg 3
        with copy(
            "COPY projections_lotversion (chain_id, block_from, log_from, block_to, lot_id, kind,"
            " creator, quantity, metadata_hash, gs1_key_hash, quarantined, quarantine_reason)"
            " FROM STDIN"
        ) as out:
            out.write(lot_rows.getvalue())
        with copy(
            "COPY projections_transformationedge (chain_id, block_from, log_from, block_to,"
            " transformation_id, actor, input_lot, input_quantity, output_lot, output_quantity,"
            " process_hash) FROM STDIN"
        ) as out:
            out.write(edge_rows.getvalue())
        with copy(
            "COPY projections_bundlecontent (chain_id, block_from, log_from, block_to,"
            " bundle_id, lot_id, quantity) FROM STDIN"
        ) as out:
            out.write(bundle_rows.getvalue())
        cursor.execute("ANALYZE projections_lotversion")
        cursor.execute("ANALYZE projections_transformationedge")
        cursor.execute("ANALYZE projections_bundlecontent")
        cursor.execute(
            "SELECT (SELECT count(*) FROM projections_transformationedge WHERE chain_id = %s)"
            " + (SELECT count(*) FROM projections_bundlecontent WHERE chain_id = %s)",
            [CHAIN, CHAIN],
        )
        (edges,) = cursor.fetchone()
    return levels, int(edges)


def measure_traces(levels: list[list[int]], starts: int) -> None:
    from webapp.provenance.selectors import lot_trace

    rng = random.Random(11)
    plan = [("up", rng.choice(levels[rng.randint(5, LEVELS - 1)])) for _ in range(starts // 2)]
    plan += [("down", rng.choice(levels[rng.randint(0, 4)])) for _ in range(starts - len(plan))]
    rng.shuffle(plan)
    for direction, lot_id in plan[:10]:  # warm the buffer cache and the plan cache
        lot_trace(lot_id=lot_id, direction=direction, depth=LEVELS, chain_id=CHAIN)  # type: ignore[arg-type]
    timings: list[tuple[float, int]] = []
    for direction, lot_id in plan:
        began = time.perf_counter()
        trace = lot_trace(lot_id=lot_id, direction=direction, depth=LEVELS, chain_id=CHAIN)  # type: ignore[arg-type]
        timings.append(((time.perf_counter() - began) * 1000, len(trace.nodes)))
    all_ms = sorted(t for t, _ in timings)
    small = sorted(t for t, n in timings if n <= 10_000)
    sizes = sorted(n for _, n in timings)
    print(f"traces: {len(timings)} (up and down, depth {LEVELS})")
    print(f"trace_nodes_median: {statistics.median(sizes):.0f}")
    print(f"trace_p50: {statistics.median(all_ms):.1f} ms")
    print(f"trace_p95: {all_ms[int(len(all_ms) * 0.95) - 1]:.1f} ms")
    if small:
        print(
            f"trace_p95_upto_10k_nodes: {small[max(int(len(small) * 0.95) - 1, 0)]:.1f} ms"
            f" ({len(small)} traces)"
        )
    print(f"largest_trace_nodes: {sizes[-1]}")
    for low, high in ((0, 1_000), (1_000, 5_000), (5_000, 10_000), (10_000, 10**9)):
        bucket = sorted(t for t, n in timings if low <= n < high)
        if bucket:
            p95 = bucket[max(int(len(bucket) * 0.95) - 1, 0)]
            print(f"  traces of {low}-{high} lots: {len(bucket)}, p95 {p95:.1f} ms")


def measure_proof(repeats: int = 200) -> None:
    from web3 import Web3

    from contracts.chain.client import LocalSigner, transact
    from contracts.chain.deploy import deploy_system
    from contracts.chain.domain import LotKind, Role
    from contracts.proofs.build import event_proof
    from contracts.proofs.verify import verify_document
    from deploy.local.node import AnvilNode

    with AnvilNode() as node, tempfile.TemporaryDirectory() as tmp:
        w3 = Web3(Web3.HTTPProvider(node.url))
        admin, miner = LocalSigner.create(), LocalSigner.create()
        _, system, _ = deploy_system(w3, admin, directory=Path(tmp))
        lots = system.lots
        register = lots.functions.registerParticipant(miner.address, int(Role.MINER), b"\x01" * 32)
        transact(w3, admin, register)
        lot = lots.functions.registerLot(1, 1_000, LotKind.RAW_MATERIAL, b"\x02" * 32, b"\x03" * 32)
        receipt = transact(w3, miner, lot)
        log_index = int(receipt["logs"][-1]["logIndex"])
        began = time.perf_counter()
        document = event_proof(w3, transaction_hash=receipt["transactionHash"], log_index=log_index)
        build_ms = (time.perf_counter() - began) * 1000
    timings = []
    for _ in range(repeats):
        began = time.perf_counter()
        report = verify_document(document)
        timings.append((time.perf_counter() - began) * 1000)
        assert report.ok, report.summary()
    print(f"proof_build: {build_ms:.1f} ms (from the node)")
    print(f"proof_verify: {statistics.median(timings):.2f} ms (median of {repeats}, no node)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lots", type=int, default=100_000)
    parser.add_argument("--starts", type=int, default=400)
    args = parser.parse_args()
    recreate_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    levels, edges = build_graph(args.lots)
    print(
        f"graph: {sum(len(level) for level in levels)} lots, {edges} edges, {LEVELS} levels"
        f" (built in {time.perf_counter() - began:.1f} s)"
    )
    measure_traces(levels, args.starts)
    measure_proof()


if __name__ == "__main__":
    main()
