"""EPCIS capture throughput, the whole way: validate + hash + map + queue.

Starts anvil, deploys the system and registers one organisation (a manufacturer with a
GS1 company prefix) on it, then captures two --events (10,000) event EPCISDocuments with
`capture_document` in rollback mode, as `POST /epcis/capture` does, and prints, measured:

- ``capture_events_per_s (every event registers a lot)``: each event is an ObjectEvent ADD
  `commissioning` of its own LGTIN class, so each becomes a `lot_register` operation, with
  its pre-flight ``eth_call`` against the node, queued in the capture's transaction;
- ``capture_events_per_s (stored as they are)``: each event is an OBSERVE at a read point,
  which maps onto no chain action, so the capture validates, hashes and stores it.

Nothing is sent to the chain (the operations stay queued: no workers).

    python bench/epcis_capture.py [--events 10000]

Uses the database in DATABASE_URL (default postgres://postgres@127.0.0.1:5432/
provenant_bench_epcis_capture, dropped and recreated).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault(
    "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/provenant_bench_epcis_capture"
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

from bench.participant import participant_on_fresh_chain

CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
PREFIX = "4012345"


def _when(i: int) -> str:
    return f"2026-12-02T{8 + i // 3600 % 10:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000+01:00"


def commissioning(i: int) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": _when(i),
        "eventTimeZoneOffset": "+01:00",
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "quantityList": [
            {"epcClass": f"urn:epc:class:lgtin:{PREFIX}.011111.B{i}", "quantity": 5, "uom": "KGM"}
        ],
        "readPoint": {"id": f"urn:epc:id:sgln:{PREFIX}.00001.0"},
    }


def observation(i: int) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": _when(i),
        "eventTimeZoneOffset": "+01:00",
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "epcList": [f"urn:epc:id:sgtin:{PREFIX}.011111.{i}"],
        "readPoint": {"id": f"urn:epc:id:sgln:{PREFIX}.00001.{i % 20}"},
    }


def document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-02T09:00:00.000Z",
        "epcisBody": {"eventList": events},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()

    from contracts.chain.domain import Role

    maker = int(Role.MANUFACTURER)
    with participant_on_fresh_chain(name="Bench Maker", role=maker) as organisation:
        from webapp.epcis.capture import capture_document
        from webapp.epcis.models import EpcisEvent
        from webapp.operations.models import Operation

        organisation.gs1_company_prefix = PREFIX
        organisation.save(update_fields=["gs1_company_prefix"])

        for label, make in (
            ("every event registers a lot", commissioning),
            ("stored as they are", observation),
        ):
            doc = document([make(i) for i in range(args.events)])
            before = Operation.objects.count()
            started = time.perf_counter()
            job = capture_document(organisation=organisation, document=doc)
            elapsed = time.perf_counter() - started
            if not (job.status == job.Status.SUCCESS and job.captured_count == args.events):
                raise SystemExit(f"the capture failed: {job.status} {job.errors[:3]}")
            queued = Operation.objects.count() - before
            print(
                f"capture_events_per_s ({label}): {args.events / elapsed:,.0f}"
                f" ({elapsed:.2f} s, {queued:,} operations queued)"
            )
        print(f"events stored: {EpcisEvent.objects.count():,}")


if __name__ == "__main__":
    main()
