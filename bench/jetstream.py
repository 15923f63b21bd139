"""JetStream publishing throughput, with a consumer reading every event back once.

1. Drops and recreates a private database, migrates it and loads --events (50,000)
   synthetic `ChainEvent` rows with COPY (one chain, varied event types and arguments).
2. Publishes them all through `JetStreamPublisher` (its cursor, batches of --batch async
   publishes, every ack awaited, the cursor moved per batch) to a stream of its own on
   the NATS server at --nats (default: PROVENANT_NATS_URL, else nats://127.0.0.1:4222),
   and prints ``jetstream_publish_per_s``.
3. Reads the stream back with an ordered consumer and prints ``jetstream_readback_per_s``
   and ``jetstream_check: ok`` when it got as many messages as were published, no
   Nats-Msg-Id twice, and exactly the store's event ids (else the difference, exit 1).

    python bench/jetstream.py [--events 50000] [--batch 2000] [--nats nats://127.0.0.1:4222]

The stream (PROVENANT_BENCH, subjects ``provenant_bench.>``) is deleted before and after.
Every wait has a deadline. Uses the database in DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/provenant_bench_jetstream, dropped and recreated: its
name must contain "bench").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault(
    "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/provenant_bench_jetstream"
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

CHAIN = 31337
STREAM = "PROVENANT_BENCH"
PREFIX = "provenant_bench"
KINDS = ("LotRegistered", "TransferSingle", "HandoffInitiated", "HandoffAccepted", "QuarantineSet")
READ_DEADLINE_S = 300.0


def _row(i: int) -> tuple[Any, ...]:
    block = 1 + i // 5
    return (
        CHAIN,
        block,
        "0x" + f"{block:064x}",
        datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=block),
        "0x" + f"c{i:063x}",
        i % 5,
        i % 5,
        "LotRegistry",
        "0x" + "22" * 20,
        KINDS[i % len(KINDS)],
        json.dumps({"lotId": str(i), "quantity": str(i * 7), "holder": "0x" + "33" * 20}),
        "0x" + "00" * 32,
        "0x" + "00" * 32,
    )


def load(events: int) -> None:
    import psycopg
    from django.core.management import call_command
    from django.db import connection

    from bench.indexer import recreate_database

    url = os.environ["DATABASE_URL"]
    recreate_database(url)
    call_command("migrate", verbosity=0)
    connection.close()
    columns = (
        "chain_id, block_number, block_hash, block_timestamp, transaction_hash,"
        " transaction_index, log_index, contract, address, event, args, content_hash,"
        " running_hash"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.cursor().copy(f"COPY chain_chainevent ({columns}) FROM STDIN") as copy:
            for i in range(events):
                copy.write_row(_row(i))
        conn.execute("ANALYZE chain_chainevent")


async def _drop_stream(url: str) -> None:
    import nats
    import nats.js.errors

    nc = await nats.connect(url, connect_timeout=5)
    try:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream(timeout=5).delete_stream(STREAM)
    finally:
        await nc.close()


async def _read_back(url: str, expected: int) -> list[str]:
    """Every message's Nats-Msg-Id, through an ordered consumer from the stream's start."""
    import nats

    nc = await nats.connect(url, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=5)
        last = (await js.stream_info(STREAM)).state.last_seq
        done = asyncio.get_running_loop().create_future()
        got: list[str] = []

        async def on_message(msg: Any) -> None:
            got.append((msg.headers or {}).get("Nats-Msg-Id", ""))
            if msg.metadata.sequence.stream >= last and not done.done():
                done.set_result(None)

        sub = await js.subscribe(
            f"{PREFIX}.>",
            stream=STREAM,
            cb=on_message,
            ordered_consumer=True,
            pending_msgs_limit=expected + 1,
        )
        try:
            await asyncio.wait_for(done, READ_DEADLINE_S)
        finally:
            await sub.unsubscribe()
        return got
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument(
        "--nats", default=os.environ.get("PROVENANT_NATS_URL", "nats://127.0.0.1:4222")
    )
    options = parser.parse_args()

    import django

    django.setup()
    from webapp.chain.models import ChainEvent
    from webapp.streams.jetstream import JetStreamPublisher
    from webapp.streams.jetstream_link import JetStreamConfig, JetStreamLink
    from webapp.streams.payloads import fact_event_id

    load(options.events)
    asyncio.run(_drop_stream(options.nats))
    config = JetStreamConfig(url=options.nats, stream=STREAM, subject_prefix=PREFIX)
    link = JetStreamLink(config)
    try:
        link.ensure_stream()
        started = time.perf_counter()
        published = JetStreamPublisher(link=link, batch=options.batch).publish_pending(
            chain_ids=[CHAIN]
        )
        elapsed = time.perf_counter() - started
        print(
            f"jetstream_publish_per_s: {published / elapsed:.0f}  ({published} in {elapsed:.2f} s)"
        )

        started = time.perf_counter()
        got = asyncio.run(_read_back(options.nats, published))
        elapsed = time.perf_counter() - started
        print(
            f"jetstream_readback_per_s: {len(got) / elapsed:.0f}  ({len(got)} in {elapsed:.2f} s)"
        )
        stored = {fact_event_id(e) for e in ChainEvent.objects.filter(chain_id=CHAIN).iterator()}
        problems = []
        if len(got) != published:
            problems.append(f"read {len(got)} messages, published {published}")
        if len(set(got)) != len(got):
            problems.append(f"{len(got) - len(set(got))} duplicate Nats-Msg-Ids")
        if set(got) != stored:
            problems.append(f"{len(stored - set(got))} missing, {len(set(got) - stored)} unknown")
        print("jetstream_check: " + ("ok" if not problems else "; ".join(problems)))
    finally:
        link.close()
        asyncio.run(_drop_stream(options.nats))
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
