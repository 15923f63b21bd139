"""EPCIS query latency through the query layer (`webapp.epcis.query` + `selectors`), as
`GET /epcis/events` runs it, visibility tiers included.

Loads --rows (1,000,000) synthetic events as `bench/epcis.py` does (a private database,
dropped and recreated), then prints the p95 and median in ms over --queries random queries
of a page of 100 for ``MATCH_epc``, ``EQ_bizStep`` + a one-day ``GE_/LT_eventTime`` window
and ``MATCH_epc`` + a 30-day window, once for an auditor (sees everything) and once for a
member whose stock scope holds --lots (50) lots (its events, those lots' events, public
facts). Then the p95 and median of ``GET /epcis/epcs`` (a page of 100 distinct EPCs, the
first page and one after a random EPC) over --list-queries (20) runs, for both.

    python bench/epcis_query.py [--rows 1000000] [--queries 200] [--lots 50]
        [--list-queries 20]

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/provenant_bench_epcis).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.epcis import BIZ_STEPS, ITEMS, LOTS, START, _p95, _sgtin, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--lots", type=int, default=50)
    parser.add_argument("--list-queries", type=int, default=20)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from contracts.chain.domain import Role
    from webapp.epcis.query import parse_query
    from webapp.epcis.selectors import event_page, resource_names
    from webapp.organisations.models import Organisation
    from webapp.projections.models import LotVersion

    seconds = load(args.rows)
    print(f"load_rows_per_s (COPY, then indexes): {args.rows / seconds:,.0f}")
    auditor = Organisation.objects.create(slug="auditor", name="Auditor", roles=Role.AUDITOR)
    member = Organisation.objects.create(
        slug="member", name="Member", roles=Role.MINER, address="0x" + "11" * 20
    )
    LotVersion.objects.bulk_create(
        LotVersion(
            chain_id=settings.CHAIN_ID,
            block_from=1,
            log_from=i,
            lot_id=lot,
            kind=1,
            creator=member.address,
            quantity=1,
            metadata_hash="0x" + "00" * 32,
            gs1_key_hash="0x" + "00" * 32,
        )
        for i, lot in enumerate(random.Random(3).sample(range(LOTS), args.lots))
    )
    rng = random.Random(11)
    span = timedelta(seconds=31 * args.rows)

    def window(days: int) -> dict[str, list[str]]:
        start = START + span * rng.random()
        return {
            "GE_eventTime": [start.isoformat()],
            "LT_eventTime": [(start + timedelta(days=days)).isoformat()],
        }

    queries = {
        "MATCH_epc": lambda: {"MATCH_epc": [_sgtin(rng.randrange(ITEMS))]},
        "EQ_bizStep_time_window": lambda: {"EQ_bizStep": [rng.choice(BIZ_STEPS)], **window(1)},
        "MATCH_epc_time_window": lambda: {
            "MATCH_epc": [_sgtin(rng.randrange(ITEMS))],
            **window(30),
        },
    }
    for who in (auditor, member):
        for name, params in queries.items():

            def run() -> int:
                page = event_page(organisation=who, query=parse_query(params()), per_page=100)  # noqa: B023
                return len(page.events)

            for _ in range(20):
                run()
            samples, found = [], 0
            for _ in range(args.queries):
                started = time.perf_counter()
                found += run()
                samples.append((time.perf_counter() - started) * 1000)
            print(
                f"query_p95_ms {who.slug} {name}: {_p95(samples):.1f} "
                f"(median {statistics.median(samples):.1f}, {found / args.queries:.1f} events)"
            )
        for page in ("first", "after"):

            def list_epcs() -> int:
                after = _sgtin(rng.randrange(ITEMS)) if page == "after" else None  # noqa: B023
                names, _ = resource_names(
                    organisation=who,  # noqa: B023
                    resource="epcs",
                    per_page=100,
                    after=after,
                )
                return len(names)

            list_epcs()
            samples, found = [], 0
            for _ in range(args.list_queries):
                started = time.perf_counter()
                found += list_epcs()
                samples.append((time.perf_counter() - started) * 1000)
            print(
                f"epcs_list_p95_ms {who.slug} {page}: {_p95(samples):.1f} "
                f"(median {statistics.median(samples):.1f}, "
                f"{found / args.list_queries:.1f} EPCs)"
            )


if __name__ == "__main__":
    main()
