"""The lake as a consumer of the event store.

Each ``apply`` batch (the pipeline's batch, so a flush every N events and never across a
transaction) writes one Parquet file per (kind, date) partition, then the pipeline moves
the cursor in its transaction. Files are named by chain id, block range and first event
id, so a crash after the write and before the cursor's commit replays the batch into the
same names and the same bytes, which are skipped. A reorganisation writes a retractions
file and bumps the generation of every partition it touches.

Off (a no-op) while ``settings.LAKE_URL`` is empty, so the demo and the tests that do not
ask for a lake pay nothing.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import pyarrow as pa
from django.conf import settings
from eth_utils.address import to_checksum_address

from webapp.chain.models import ChainEvent, ConsumerCursor
from webapp.exports.lake.schema import EVENTS_V1, EVENTS_VERSION, RETRACTIONS_V1
from webapp.exports.lake.storage import (
    Lake,
    file_put,
    lake_open,
    manifest_read,
    manifest_write,
    partitions,
    table_bytes,
)
from webapp.exports.lake.views import views_write

NAME = "lake"

#: A few contracts emit every event: checksum each address once.
_checksummed = functools.lru_cache(maxsize=4096)(to_checksum_address)


def event_partition(kind: str, day: str) -> str:
    return f"events/{EVENTS_VERSION}/kind={kind}/date={day}"


def events_table(events: Sequence[ChainEvent]) -> pa.Table:
    rows = {
        "id": [e.id for e in events],
        "chain_id": [e.chain_id for e in events],
        "block_number": [e.block_number for e in events],
        "block_hash": [e.block_hash for e in events],
        "block_timestamp": [e.block_timestamp.astimezone(UTC) for e in events],
        "transaction_hash": [e.transaction_hash for e in events],
        "transaction_index": [e.transaction_index for e in events],
        "log_index": [e.log_index for e in events],
        "contract": [e.contract for e in events],
        "address": [_checksummed(e.address) for e in events],
        "event": [e.event for e in events],
        "args": [json.dumps(e.args, sort_keys=True, separators=(",", ":")) for e in events],
        "content_hash": [e.content_hash for e in events],
        "running_hash": [e.running_hash for e in events],
    }
    return pa.Table.from_pydict(rows, schema=EVENTS_V1)


def lake_write_events(lake: Lake, events: Sequence[ChainEvent], *, chain_id: int) -> int:
    """Write a batch (store order); returns the files written (not already there)."""
    groups: dict[tuple[str, str], list[ChainEvent]] = defaultdict(list)
    for event in events:
        day = event.block_timestamp.astimezone(UTC).date().isoformat()
        groups[(event.event, day)].append(event)
    written = 0
    for (kind, day), rows in sorted(groups.items()):
        first, last = rows[0], rows[-1]
        name = f"{chain_id}-{first.block_number}-{last.block_number}-{first.id}.parquet"
        entry = {
            "rows": len(rows),
            "from_block": first.block_number,
            "to_block": last.block_number,
            "first_id": first.id,
            "last_id": last.id,
            "running_hash": last.running_hash,
            "store_running_hash": events[-1].running_hash,
        }
        written += file_put(
            lake, event_partition(kind, day), name, table_bytes(events_table(rows)), entry
        )
    return written


def lake_retract(lake: Lake, *, chain_id: int, to_block: int, exported_to: int) -> int:
    """Write compensating rows for the exported events above `to_block` and bump the
    generation of the partitions they sit in. Returns the rows retracted."""
    doomed = list(
        ChainEvent.objects.filter(
            chain_id=chain_id, block_number__gt=to_block, id__lte=exported_to
        ).order_by("id")
    )
    if not doomed:
        return 0
    touched = {
        event_partition(e.event, e.block_timestamp.astimezone(UTC).date().isoformat())
        for e in doomed
    }
    generation = 1 + max(manifest_read(lake, p)["generation"] for p in touched)
    now = datetime.now(UTC)
    table = pa.Table.from_pydict(
        {
            "chain_id": [e.chain_id for e in doomed],
            "block_number": [e.block_number for e in doomed],
            "block_hash": [e.block_hash for e in doomed],
            "log_index": [e.log_index for e in doomed],
            "event": [e.event for e in doomed],
            "generation": [generation] * len(doomed),
            "retracted_at": [now] * len(doomed),
        },
        schema=RETRACTIONS_V1,
    )
    partition = f"retractions/v1/date={now.date().isoformat()}"
    name = f"{chain_id}-{to_block + 1}-{doomed[-1].block_number}-g{generation}.parquet"
    file_put(
        lake,
        partition,
        name,
        table_bytes(table),
        {
            "rows": len(doomed),
            "from_block": to_block + 1,
            "to_block": doomed[-1].block_number,
            "generation": generation,
        },
    )
    for p in touched:
        manifest = manifest_read(lake, p)
        manifest["generation"] = generation
        manifest.setdefault("retracted_above", []).append(
            {"chain_id": chain_id, "block": to_block, "generation": generation}
        )
        manifest_write(lake, p, manifest)
    views_write(lake)
    return len(doomed)


class LakeExport:
    """Mirrors every event into the Parquet lake at ``settings.LAKE_URL``."""

    name = NAME
    kinds: frozenset[str] | None = None
    after: tuple[str, ...] = ()

    def apply(self, events: Sequence[ChainEvent], *, chain_id: int) -> None:
        url = settings.LAKE_URL
        if not url or not events:
            return
        lake = lake_open(url)
        views_write(lake)
        lake_write_events(lake, events, chain_id=chain_id)

    def rollback(self, to_block: int, *, chain_id: int) -> None:
        url = settings.LAKE_URL
        if not url:
            return
        cursor = ConsumerCursor.objects.filter(chain_id=chain_id, name=NAME).first()
        exported_to = cursor.event_id if cursor else 0
        lake_retract(lake_open(url), chain_id=chain_id, to_block=to_block, exported_to=exported_to)


__all__ = ["LakeExport", "lake_retract", "lake_write_events", "partitions"]
