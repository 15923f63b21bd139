"""The data platform's outlets at scale: the Parquet lake, the warehouse and search.

1. Recreates and migrates the database in DATABASE_URL (default postgres://postgres@
   127.0.0.1:5432/provenant_bench_export; its name must contain "bench") and fills it with
   SQL, not through a chain (what is measured is the outlets, not the indexer): five
   organisations (four members and an auditor), --lots current lots with their metadata
   (names of materials, batches, GS1 keys; a lot in 97 quarantined) and --events mirrored
   chain events about them over 60 days (registrations, handoffs, accepts, certificates,
   quarantines; each with the arguments its contract event has), the blocks they sit in,
   and the handoffs and footprint certificates the projections hold for them.
2. Lake: the lake consumer (`LakeExport`, as `manage.py export_lake` runs it, 5,000
   events per transaction) writes the first --lake-events events to a new local lake;
   prints ``lake_export_events_per_s`` and then checks the lake with `lake_verify`.
3. Warehouse: its consumer (`WarehouseRefresh`, 5,000 events per transaction) refreshes
   the star schema over the first --warehouse-events events: dimensions, facts and the
   footprint roll-up of every lot registered or certified; prints
   ``warehouse_refresh_events_per_s`` and the rows per table.
4. Search: `manage.py reindex_search` builds the index of every lot, organisation and
   event (prints ``search_reindex_rows_per_s``), then --queries searches through
   `search_find` — words (one material, two words, an event name), a batch number and a
   lot id as substrings, a page further down — half as the auditor (everything), half as
   a member (its own stock), after one untimed search per scope; prints ``search_p50_ms``
   and ``search_p95_ms`` (each call's page, total and facet counts, wall clock in this
   process) and the p95 per query kind.

    python bench/export.py [--lots 100000] [--events 500000] [--lake-events 100000]
                           [--warehouse-events 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/provenant_bench_export")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

from bench.indexer import recreate_database
from bench.stats import percentile

MATERIALS = [
    "cobalt ore",
    "cobalt hydroxide",
    "lithium carbonate",
    "nickel matte",
    "copper cathode",
    "natural graphite",
    "battery cell",
    "cathode powder",
]
EVENTS = [
    ("Lots", "LotRegistered"),
    ("Custody", "HandoffInitiated"),
    ("Custody", "HandoffAccepted"),
    ("Certificates", "CertificateIssued"),
    ("Lots", "QuarantineSet"),
]
MEMBERS = [("mine", 1), ("refinery", 2), ("distributor", 8), ("retailer", 16)]


def address(index: int) -> str:
    return "0x" + f"{index + 1:02x}" * 20


def fill(lots: int, events: int) -> None:
    """Organisations, lots, metadata and events, written by PostgreSQL itself (the SQL
    holds only integers this function was given: no parameters)."""
    from django.conf import settings
    from django.db import connection

    from webapp.organisations.models import Organisation, Role

    for index, (slug, roles) in enumerate(MEMBERS):
        Organisation.objects.create(
            name=slug.title(), slug=slug, address=address(index), roles=roles
        )
    Organisation.objects.create(
        name="Auditor", slug="auditor", address=address(len(MEMBERS)), roles=int(Role.AUDITOR)
    )
    chain = settings.CHAIN_ID
    addresses = "ARRAY[" + ", ".join(f"'{address(i)}'" for i in range(len(MEMBERS))) + "]"
    materials = "ARRAY[" + ", ".join(f"'{m}'" for m in MATERIALS) + "]"
    contracts = "ARRAY[" + ", ".join(f"'{c}'" for c, _ in EVENTS) + "]"
    names = "ARRAY[" + ", ".join(f"'{e}'" for _, e in EVENTS) + "]"
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO projections_lotversion (chain_id, block_from, log_from, block_to, "
            "lot_id, kind, creator, quantity, metadata_hash, gs1_key_hash, quarantined, "
            "quarantine_reason, quarantined_by) "
            f"SELECT {chain}, g / 10 + 1, 0, NULL, g, 1 + g % 3, "
            f"({addresses})[1 + g % {len(MEMBERS)}], 1000 + g % 5000, "
            "'0x' || md5(g::text) || md5(g::text), '0x' || md5('k' || g) || md5('K' || g), "
            f"g % 97 = 0, '', '' FROM generate_series(1, {lots}) g"
        )
        cursor.execute(
            "INSERT INTO lots_lotmetadata (chain_id, lot_id, document, metadata_hash, "
            "gs1_key, created_at) "
            f"SELECT {chain}, g, jsonb_build_object('name', "
            f"initcap(({materials})[1 + g % {len(MATERIALS)}]) || ' lot ' || g, "
            "'batch', 'B' || lpad(g::text, 7, '0'), 'origin', "
            "(ARRAY['CD', 'AU', 'CL', 'ID', 'NO'])[1 + g % 5]), "
            "'0x' || md5(g::text) || md5(g::text), "
            "'(01)09506000134352(10)B' || lpad(g::text, 7, '0'), "
            f"now() - make_interval(secs => g) FROM generate_series(1, {lots}) g"
        )
        # Each event's arguments as the contracts name them; a handoff's initiation and
        # acceptance share its id (g / 5), a certificate's id is g / 5 too.
        cursor.execute(
            "INSERT INTO chain_chainevent (chain_id, block_number, block_hash, "
            "block_timestamp, transaction_hash, transaction_index, log_index, contract, "
            "address, event, args, content_hash, running_hash) "
            f"SELECT {chain}, g / 5 + 1, '0x' || md5('b' || (g / 5)) || md5('B' || (g / 5)), "
            f"now() - interval '60 days' + make_interval(secs => g * 5184000.0 / {events}), "
            "'0x' || md5('t' || g) || md5('T' || g), 0, g % 5, "
            f"({contracts})[1 + g % 5], ({addresses})[1 + g % {len(MEMBERS)}], "
            f"({names})[1 + g % 5], "
            "CASE g % 5 "
            f"WHEN 0 THEN jsonb_build_object('lotId', (1 + g % {lots})::text, "
            f"'owner', ({addresses})[1 + g % {len(MEMBERS)}], 'kind', 1, 'quantity', '1000') "
            f"WHEN 3 THEN jsonb_build_object('certificateId', (g / 5)::text, "
            f"'subject', (1 + g % {lots})::text, 'subjectKind', 1, "
            f"'issuer', ({addresses})[1 + g % {len(MEMBERS)}]) "
            f"WHEN 4 THEN jsonb_build_object('lotId', (1 + g % {lots})::text, "
            f"'by', ({addresses})[1 + g % {len(MEMBERS)}], 'reason', 'too warm') "
            f"ELSE jsonb_build_object('handoffId', (g / 5)::text, "
            f"'lotId', (1 + g % {lots})::text, "
            f"'sender', ({addresses})[1 + g % {len(MEMBERS)}], "
            f"'receiver', ({addresses})[1 + (g + 1) % {len(MEMBERS)}], 'quantity', '10') END, "
            "'0x' || md5('c' || g) || md5('C' || g), '0x' || md5('r' || g) || md5('R' || g) "
            f"FROM generate_series(0, {events} - 1) g"
        )
        cursor.execute(
            "INSERT INTO chain_block (chain_id, number, hash, parent_hash, timestamp) "
            "SELECT chain_id, block_number, min(block_hash), '0x' || md5('p' || block_number) "
            "|| md5('P' || block_number), min(block_timestamp) FROM chain_chainevent "
            "GROUP BY chain_id, block_number"
        )
        # The projections' handoffs and certificates those events are about.
        cursor.execute(
            "INSERT INTO projections_handoffversion (chain_id, block_from, log_from, block_to, "
            "handoff_id, lot_id, sender, receiver, quantity, escrow, status, reason) "
            f"SELECT {chain}, g / 5 + 1, 2, NULL, g / 5, 1 + g % {lots}, "
            f"({addresses})[1 + g % {len(MEMBERS)}], "
            f"({addresses})[1 + (g + 1) % {len(MEMBERS)}], 10, "
            f"({addresses})[1], 'accepted', '' "
            f"FROM generate_series(2, {events} - 1, 5) g"
        )
        co2e = "0x" + b"CO2E_G_PER_UNIT".ljust(32, b"\0").hex()
        footprint = "0x" + b"FOOTPRINT".ljust(32, b"\0").hex()
        cursor.execute(
            "INSERT INTO projections_certificateversion (chain_id, block_from, log_from, "
            "block_to, certificate_id, subject_kind, subject, certificate_type, issuer, "
            "document_hash, valid_from, valid_until, claims, revoked, revoke_reason) "
            f"SELECT {chain}, g / 5 + 1, 3, NULL, g / 5, 1, 1 + g % {lots}, '{footprint}', "
            f"({addresses})[1 + g % {len(MEMBERS)}], '0x' || md5('d' || g) || md5('D' || g), "
            "now() - interval '90 days', now() + interval '365 days', "
            f"jsonb_build_object('{co2e}', (1 + g % 9)::text), false, '' "
            f"FROM generate_series(3, {events} - 1, 5) g"
        )
        cursor.execute("ANALYZE")


def lake(lake_events: int) -> float:
    """Export the first `lake_events` events to a new lake; events per second."""
    from django.conf import settings
    from django.core.management import call_command

    from webapp.chain.models import ChainEvent
    from webapp.chain.pipeline import consumer_catch_up
    from webapp.exports.lake.consumer import LakeExport

    with tempfile.TemporaryDirectory() as directory:
        settings.LAKE_URL = directory
        ids = ChainEvent.objects.order_by("id").values_list("id", flat=True)
        until = ids[lake_events - 1]
        began = time.perf_counter()
        applied = consumer_catch_up(
            consumer=LakeExport(), chain_id=settings.CHAIN_ID, until=until, batch=5000
        )
        elapsed = time.perf_counter() - began
        files = sum(1 for _ in Path(directory).rglob("*.parquet"))
        print(f"lake_export: {applied} events, {files} Parquet files in {elapsed:.2f} s")
        call_command("verify_lake")
    return applied / elapsed


def warehouse(warehouse_events: int) -> float:
    """Refresh the warehouse over the first `warehouse_events` events (as the pipeline and
    `manage.py refresh_warehouse` run it, 5,000 events per transaction); events per
    second."""
    from django.conf import settings
    from django.db import connection

    from webapp.chain.models import ChainEvent, ConsumerCursor
    from webapp.chain.pipeline import consumer_catch_up
    from webapp.exports.warehouse.consumer import WarehouseRefresh
    from webapp.exports.warehouse.schema import TABLES

    ids = ChainEvent.objects.order_by("id").values_list("id", flat=True)
    until = ids[warehouse_events - 1]
    # The projections were filled with the events: they are at the head (the warehouse
    # waits for them).
    ConsumerCursor.objects.update_or_create(
        chain_id=settings.CHAIN_ID, name="projections", defaults={"event_id": ids.last()}
    )
    began = time.perf_counter()
    applied = consumer_catch_up(
        consumer=WarehouseRefresh(), chain_id=settings.CHAIN_ID, until=until, batch=5000
    )
    elapsed = time.perf_counter() - began
    with connection.cursor() as cursor:
        counts = []
        for table in TABLES:
            cursor.execute(f"SELECT count(*) FROM reporting.{table}")
            counts.append(f"{table} {cursor.fetchone()[0]}")
    print(f"warehouse_refresh: {applied} events in {elapsed:.2f} s: {', '.join(counts)}")
    return applied / elapsed


LINEAGE_QUERY = """query ($id: ID!) { lot(id: $id) {
  figures { footprintGPerUnit footprintComplete }
  upstream(depth: 3) {
    nodes { distance lot { id kind quantity certificates { certificateType status } } }
    edges { parent child kind parentQuantity } } } }"""


def lineage_fill(base: int) -> int:
    """A 100-lot lineage beside the filled lots: a product made of 9 components, each made
    of 10 certified raw lots (one footprint certificate each); returns the product's id."""
    from django.conf import settings

    from contracts.chain.domain import ascii32
    from webapp.lots.models import LotMetadata
    from webapp.projections.models import (
        Balance,
        CertificateVersion,
        LotVersion,
        TransformationEdge,
    )

    chain = settings.CHAIN_ID
    maker = address(1)
    at = {"chain_id": chain, "block_from": 1, "log_from": 0}
    product, components = base, [base + 1 + i for i in range(9)]
    raws = {c: [base + 100 + 10 * i + j for j in range(10)] for i, c in enumerate(components)}
    kinds = {product: 3, **{c: 2 for c in components}}
    kinds.update({r: 1 for rs in raws.values() for r in rs})
    LotVersion.objects.bulk_create(
        LotVersion(**at, lot_id=i, kind=k, creator=maker, quantity=1000,
                   metadata_hash="0x" + "00" * 32, gs1_key_hash="0x" + "00" * 32)
        for i, k in kinds.items()
    )  # fmt: skip
    Balance.objects.bulk_create(Balance(**at, lot_id=i, holder=maker, quantity=1000) for i in kinds)
    LotMetadata.objects.bulk_create(
        LotMetadata(chain_id=chain, lot_id=i, document={"name": f"Lineage lot {i}", "unit": "g"},
                    metadata_hash="0x" + "00" * 32)
        for i in kinds
    )  # fmt: skip
    edges = [(c, product, 100) for c in components]
    edges += [(r, c, 100) for c, rs in raws.items() for r in rs]
    TransformationEdge.objects.bulk_create(
        TransformationEdge(**at, transformation_id=base + n, actor=maker,
                           input_lot=source, input_quantity=quantity, output_lot=out,
                           output_quantity=1000, process_hash="0x" + "00" * 32)
        for n, out in enumerate([product, *components])
        for source, target, quantity in edges
        if target == out
    )  # fmt: skip
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    CertificateVersion.objects.bulk_create(
        CertificateVersion(**at, certificate_id=base + n, subject_kind=1, subject=r,
                           certificate_type="0x" + ascii32("CARBON_FOOTPRINT").hex(),
                           issuer=address(2), document_hash="0x" + "00" * 32,
                           valid_from=now - timedelta(days=400),
                           valid_until=now + timedelta(days=365),
                           claims={"0x" + ascii32("CO2E_G_PER_UNIT").hex(): 3})
        for n, r in enumerate(sorted(r for rs in raws.values() for r in rs))
    )  # fmt: skip
    return product


def graphql_lineage(runs: int, base: int) -> tuple[list[float], int]:
    """Time `runs` GraphQL queries of a 100-lot lineage with its certificates and the
    product's figures (as a member with a read-only token, through Django's test client
    and the hub's whole stack); milliseconds, and the SQL queries one of them took."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from webapp.organisations.models import Organisation
    from webapp.organisations.services import api_token_create

    setup_test_environment()
    product = lineage_fill(base)
    token, _ = api_token_create(
        organisation=Organisation.objects.get(slug="refinery"), name="bench", scope="read"
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = json.dumps({"query": LINEAGE_QUERY, "variables": {"id": str(product)}})

    def ask() -> dict[str, Any]:
        response = client.post("/graphql", body, content_type="application/json")
        assert response.status_code == 200, response.content[:300]
        answer: dict[str, Any] = response.json()
        assert "errors" not in answer, answer["errors"]
        return answer

    answer = ask()  # warm
    nodes = answer["data"]["lot"]["upstream"]["nodes"]
    assert len(nodes) == 99, len(nodes)
    assert answer["data"]["lot"]["figures"]["footprintComplete"] is True
    connection.queries_log.clear()  # a full log (DEBUG) would capture nothing
    with CaptureQueriesContext(connection) as captured:
        ask()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        ask()
        times.append((time.perf_counter() - began) * 1000)
    return times, len(captured.captured_queries)


def search(queries: int, lots: int) -> dict[str, list[float]]:
    """Time `queries` searches; milliseconds per query kind."""
    from webapp.exports.search.selectors import search_find, search_request
    from webapp.lots.selectors.scope import stock_scope
    from webapp.organisations.models import Organisation

    rng = random.Random(7)
    scopes = {
        "auditor": stock_scope(organisation=Organisation.objects.get(slug="auditor")),
        "member": stock_scope(organisation=Organisation.objects.get(slug="refinery")),
    }
    kinds: dict[str, Any] = {
        "word": lambda: {"q": rng.choice(MATERIALS).split()[0]},
        "two_words": lambda: {"q": rng.choice(MATERIALS)},
        "event_name": lambda: {"q": rng.choice(EVENTS)[1]},
        "batch": lambda: {"q": f"B{rng.randrange(1, lots):07d}"},
        "lot_id": lambda: {"q": str(rng.randrange(1, lots))},
        "word_facet_page3": lambda: {
            "q": rng.choice(MATERIALS).split()[0],
            "type": "lot",
            "page": "3",
        },
    }
    for scope in scopes.values():  # warm: the first search of a process loads code
        search_find(scope=scope, request=search_request({"q": MATERIALS[0]}))
    times: dict[str, list[float]] = defaultdict(list)
    for i in range(queries):
        kind = list(kinds)[i % len(kinds)]
        scope = scopes["auditor" if i % 2 == 0 else "member"]
        request = search_request(kinds[kind]())
        began = time.perf_counter()
        page = search_find(scope=scope, request=request)
        elapsed = (time.perf_counter() - began) * 1000
        assert page.total >= 0
        times[kind].append(elapsed)
        times["all"].append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lots", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--lake-events", type=int, default=100_000)
    parser.add_argument("--warehouse-events", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--graphql-runs", type=int, default=50)
    args = parser.parse_args()

    recreate_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    from webapp.exports.search.models import SearchEntry

    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    fill(args.lots, args.events)
    print(f"filled: {args.lots} lots, {args.events} events in {time.perf_counter() - began:.1f} s")

    rate = lake(min(args.lake_events, args.events))
    print(f"lake_export_events_per_s: {rate:.0f}")

    rate = warehouse(min(args.warehouse_events, args.events))
    print(f"warehouse_refresh_events_per_s: {rate:.0f}")

    began = time.perf_counter()
    call_command("reindex_search", verbosity=0)
    rows = SearchEntry.objects.count()
    print(f"search_reindex_rows_per_s: {rows / (time.perf_counter() - began):.0f} ({rows} rows)")

    lineage, statements = graphql_lineage(args.graphql_runs, base=args.lots * 10)
    print(f"graphql_lineage_queries: {statements} SQL statements per query (100 lots)")
    print(f"graphql_lineage_p50_ms: {percentile(lineage, 0.5):.1f}")
    print(f"graphql_lineage_p95_ms: {percentile(lineage, 0.95):.1f}")

    times = search(args.queries, args.lots)
    for kind, values in sorted(times.items()):
        if kind != "all":
            print(f"search_p95_ms[{kind}]: {percentile(values, 0.95):.1f}")
    print(f"search_p50_ms: {percentile(times['all'], 0.5):.1f}")
    print(f"search_p95_ms: {percentile(times['all'], 0.95):.1f}")


if __name__ == "__main__":
    main()
