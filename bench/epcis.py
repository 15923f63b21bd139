"""EPCIS 2.0 throughput and query latency.

1. Builds a --events (10,000) event EPCISDocument (object, aggregation, transformation and
   transaction events, each with its own EPCs, readPoint, bizTransaction, some with
   quantities and sensor readings) and prints, measured:
   ``validate_events_per_s`` (the whole document against GS1's JSON Schema, offline; with
   jsonschema-rs when it is installed, and then with jsonschema alone too),
   ``hash_events_per_s`` (the CBV 2.0 event hash of every event) and
   ``validate_hash_events_per_s`` (both, the first part of the capture pipeline); then runs
   `bench/epcis_capture.py` (its own node and database) for ``capture_events_per_s``, the
   whole way: validate + hash + map + queue, in rollback mode (``--no-capture`` skips it).
2. With --rows N (default 1,000,000; 0 skips it): drops and recreates a private database,
   migrates it, loads N synthetic `EpcisEvent` rows with COPY (indexes built after the
   load), and prints the p95 and median in ms over --queries random queries each of
   ``MATCH_anyEPC`` (`epcs @> ARRAY[epc]`, newest 100), ``EQ_bizStep`` + a one-day
   ``GE_/LT_eventTime`` window (first 100 by eventTime), and ``MATCH_epc`` + a 30-day window.

    python bench/epcis.py [--events 10000] [--rows 1000000] [--queries 300]

Uses the database in DATABASE_URL (default postgres://postgres@127.0.0.1:5432/
provenant_bench_epcis, dropped and recreated).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/provenant_bench_epcis")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

CONTEXT = [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {"example": "https://ns.example.com/epcis/"},
]
BIZ_STEPS = [
    "commissioning",
    "shipping",
    "receiving",
    "packing",
    "unpacking",
    "inspecting",
    "storing",
    "loading",
    "transporting",
    "accepting",
]
START = datetime(2026, 1, 1, tzinfo=UTC)


def _sgtin(i: int) -> str:
    return f"urn:epc:id:sgtin:4012345.0{i % 7:05d}.{i}"


def _lgtin(i: int) -> str:
    return f"urn:epc:class:lgtin:4012345.0{i % 7:05d}.LOT-{i}"


def _time(i: int) -> tuple[str, str]:
    moment = (START + timedelta(seconds=37 * i)).astimezone(timezone(timedelta(hours=1)))
    return moment.isoformat(timespec="milliseconds"), "+01:00"


def synthetic_event(i: int) -> dict[str, Any]:
    """One varied, schema-valid event; every EPC is new."""
    when, offset = _time(i)
    common: dict[str, Any] = {
        "eventTime": when,
        "eventTimeZoneOffset": offset,
        "readPoint": {"id": f"urn:epc:id:sgln:4012345.00001.{i % 50}"},
        "bizTransactionList": [
            {"type": "po", "bizTransaction": f"urn:epcglobal:cbv:bt:4012345000016:PO-{i // 10}"}
        ],
    }
    kind = i % 4
    if kind == 0:
        event: dict[str, Any] = {
            "type": "ObjectEvent",
            "epcList": [_sgtin(3 * i), _sgtin(3 * i + 1), _sgtin(3 * i + 2)],
            "action": "OBSERVE",
            "bizStep": "shipping",
            "disposition": "in_transit",
            "destinationList": [
                {"type": "owning_party", "destination": "urn:epc:id:pgln:0614141.00000"}
            ],
            "example:shipmentRef": f"SHIP-{i}",
        }
    elif kind == 1:
        event = {
            "type": "AggregationEvent",
            "parentID": f"urn:epc:id:sscc:4012345.{i:010d}",
            "childEPCs": [_sgtin(3 * i), _sgtin(3 * i + 1)],
            "childQuantityList": [{"epcClass": _lgtin(i), "quantity": 12.5, "uom": "KGM"}],
            "action": "ADD",
            "bizStep": "packing",
        }
    elif kind == 2:
        event = {
            "type": "TransformationEvent",
            "inputQuantityList": [{"epcClass": _lgtin(i), "quantity": 2400, "uom": "KGM"}],
            "outputQuantityList": [{"epcClass": _lgtin(i + 1), "quantity": 1900.5, "uom": "KGM"}],
            "bizStep": "commissioning",
            "ilmd": {"example:refinedAt": "Hjørring"},
        }
    else:
        event = {
            "type": "ObjectEvent",
            "epcList": [_sgtin(3 * i)],
            "action": "OBSERVE",
            "bizStep": "inspecting",
            "sensorElementList": [
                {
                    "sensorMetadata": {"time": when},
                    "sensorReport": [{"type": "Temperature", "value": 4.5, "uom": "CEL"}],
                }
            ],
        }
    return {**event, **common}


def document(events: int) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-02T09:00:00.000Z",
        "epcisBody": {"eventList": [synthetic_event(i) for i in range(events)]},
    }


def measure_capture(events: int) -> None:
    from webapp.epcis.hashing import event_hash
    from webapp.epcis.validation import _fast_validator, _validator, document_problems

    doc = document(events)
    document_problems(document(2))  # builds the validator once, as a running server has
    doc_events = doc["epcisBody"]["eventList"]

    started = time.perf_counter()
    problems = document_problems(doc)
    validated = time.perf_counter() - started
    assert problems == [], problems[:3]

    started = time.perf_counter()
    hashes = {event_hash(e, CONTEXT) for e in doc_events}
    hashed = time.perf_counter() - started
    assert len(hashes) == events

    engine = "jsonschema-rs" if _fast_validator() is not None else "jsonschema"
    print(f"validate_events_per_s ({engine}): {events / validated:,.0f}")
    if engine != "jsonschema":
        started = time.perf_counter()
        assert _validator().is_valid(doc)
        print(
            f"validate_events_per_s (jsonschema): {events / (time.perf_counter() - started):,.0f}"
        )
    print(f"hash_events_per_s: {events / hashed:,.0f}")
    print(f"validate_hash_events_per_s: {events / (validated + hashed):,.0f}")


# -- the query part -----------------------------------------------------------------------

COPY_COLUMNS = (
    "event_hash",
    "event_id",
    "event_type",
    "action",
    "biz_step",
    "disposition",
    "read_point",
    "biz_location",
    "event_time",
    "event_time_zone_offset",
    "record_time",
    "epcs",
    "parent_id",
    "input_epcs",
    "output_epcs",
    "epc_classes",
    "document",
    "source",
    "transaction_hash",
    "created_at",
    "lot_ids",
    "public",
    "certificate_ids",
)
ITEMS = 300_000  # distinct serialised items; each appears in a few events
LOTS = 20_000  # each event is about one lot; commissioning (a registration) is public


def _row(i: int, rng: random.Random) -> tuple[Any, ...]:
    moment = START + timedelta(seconds=31 * i + rng.randrange(31))
    epcs = [_sgtin(rng.randrange(ITEMS)) for _ in range(rng.randrange(1, 4))]
    step = BIZ_STEPS[rng.randrange(len(BIZ_STEPS))]
    doc = {
        "type": "ObjectEvent",
        "eventTime": moment.isoformat(),
        "eventTimeZoneOffset": "+00:00",
        "epcList": epcs,
        "action": "OBSERVE",
        "bizStep": step,
    }
    digest = f"{i:064x}"
    return (
        f"ni:///sha-256;{digest}?ver=CBV2.0",
        "",
        "ObjectEvent",
        "OBSERVE",
        step,
        "",
        f"urn:epc:id:sgln:4012345.00001.{i % 50}",
        "",
        moment,
        "+00:00",
        moment,
        epcs,
        "",
        [],
        [],
        [],
        json.dumps(doc),
        "captured",
        "",
        moment,
        [str(rng.randrange(LOTS))],
        step == "commissioning",
        [],
    )


def load(rows: int) -> float:
    import psycopg
    from django.db import connection

    from bench.indexer import recreate_database

    url = os.environ["DATABASE_URL"]
    recreate_database(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    connection.close()

    started = time.perf_counter()
    rng = random.Random(7)
    with psycopg.connect(url, autocommit=True) as conn:
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'epcis_epcisevent'"
            " AND indexname NOT LIKE '%pkey' AND indexdef NOT LIKE 'CREATE UNIQUE%'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        with conn.cursor().copy(
            f"COPY epcis_epcisevent ({', '.join(COPY_COLUMNS)}) FROM STDIN"
        ) as copy:
            for i in range(rows):
                copy.write_row(_row(i, rng))
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("ANALYZE epcis_epcisevent")
    return time.perf_counter() - started


def _p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]


def measure_queries(rows: int, queries: int) -> None:
    from webapp.epcis.models import EpcisEvent

    rng = random.Random(11)
    span = timedelta(seconds=31 * rows)

    def any_epc() -> int:
        epc = _sgtin(rng.randrange(ITEMS))
        return len(
            list(EpcisEvent.objects.filter(epcs__contains=[epc]).order_by("-event_time")[:100])
        )

    def biz_step_window() -> int:
        start = START + span * rng.random()
        return len(
            list(
                EpcisEvent.objects.filter(
                    biz_step=rng.choice(BIZ_STEPS),
                    event_time__gte=start,
                    event_time__lt=start + timedelta(days=1),
                ).order_by("event_time")[:100]
            )
        )

    def epc_window() -> int:
        epc = _sgtin(rng.randrange(ITEMS))
        start = START + span * rng.random()
        return len(
            list(
                EpcisEvent.objects.filter(
                    epcs__contains=[epc],
                    event_time__gte=start,
                    event_time__lt=start + timedelta(days=30),
                ).order_by("event_time")[:100]
            )
        )

    for name, query in (
        ("MATCH_anyEPC", any_epc),
        ("EQ_bizStep_time_window", biz_step_window),
        ("MATCH_epc_time_window", epc_window),
    ):
        for _ in range(20):
            query()  # warm the cache as a running server would be
        samples, found = [], 0
        for _ in range(queries):
            started = time.perf_counter()
            found += query()
            samples.append((time.perf_counter() - started) * 1000)
        print(
            f"query_p95_ms {name}: {_p95(samples):.1f} "
            f"(median {statistics.median(samples):.1f}, {found / queries:.1f} events a query)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--no-capture", action="store_true", help="skip capture_events_per_s")
    args = parser.parse_args()

    import django

    django.setup()
    measure_capture(args.events)
    if not args.no_capture:
        whole = Path(__file__).resolve().parent / "epcis_capture.py"
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # its own database
        subprocess.run(
            [sys.executable, str(whole), "--events", str(args.events)], env=env, check=True
        )
    if args.rows:
        seconds = load(args.rows)
        print(f"load_rows_per_s (COPY, then indexes): {args.rows / seconds:,.0f}")
        measure_queries(args.rows, args.queries)


if __name__ == "__main__":
    main()
