"""Daily snapshots under ``snapshots/v1/<name>/date=<YYYY-MM-DD>/<name>-<date>.parquet``.

The main projections as they stand at the mirror's head (lots, holdings, handoffs,
certificates, transformation edges, and each lot's sustainability figures), one file per
table per day; every row carries the head block it is as of, and each file's manifest entry
the event store's running hash there, so a snapshot can be checked against the chain like
the event files. A day's snapshot is written once: a second run that day skips it.

Personal fields go to the lake sealed, never in clear: the snapshot of personal values
holds the subject id, the field name, the salted commitment and the AES-GCM ciphertext
(sealed under the subject's data key). Forgetting the subject destroys that key, so every
copy already written becomes unreadable (crypto-shredding reaches the lake).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa
from django.db import connection

from webapp.chain.models import ChainEvent
from webapp.exports.lake.storage import Lake, file_put, table_bytes
from webapp.privacy.models import PersonalValue
from webapp.sustainability.selectors import lots_figures, mirror_head

SNAPSHOTS_VERSION = "v1"

PERSONAL_VALUES_V1 = pa.schema(
    [
        pa.field("subject_id", pa.string(), nullable=False),
        pa.field("field", pa.string(), nullable=False),
        pa.field("commitment", pa.string(), nullable=False),
        pa.field("ciphertext", pa.binary(), nullable=False),
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ],
    metadata={"provenant.schema": "snapshots/personal_values/v1"},
)


def snapshot_personal_values(lake: Lake, *, day: date) -> int:
    """Write the day's snapshot of sealed personal values; returns its rows (0 when the
    day's snapshot is already there)."""
    if snapshot_taken(lake, "personal_values", day):
        return 0
    values = list(PersonalValue.objects.order_by("id"))
    table = pa.Table.from_pydict(
        {
            "subject_id": [str(v.subject_id) for v in values],
            "field": [v.field for v in values],
            "commitment": [v.commitment for v in values],
            "ciphertext": [bytes(v.ciphertext) for v in values],
            "created_at": [v.created_at for v in values],
        },
        schema=PERSONAL_VALUES_V1,
    )
    name = "personal_values"
    partition = f"snapshots/{SNAPSHOTS_VERSION}/{name}/date={day.isoformat()}"
    fresh = file_put(
        lake,
        partition,
        f"{name}-{day.isoformat()}.parquet",
        table_bytes(table),
        {"rows": len(values)},
    )
    return len(values) if fresh else 0


_BASE = [
    pa.field("chain_id", pa.uint64(), nullable=False),
    pa.field("as_of_block", pa.uint64(), nullable=False),
]


def _schema(name: str, fields: list[pa.Field]) -> pa.Schema:
    return pa.schema(
        [*_BASE, *fields], metadata={"provenant.schema": f"snapshots/{name}/{SNAPSHOTS_VERSION}"}
    )


def _text(name: str) -> pa.Field:
    return pa.field(name, pa.string(), nullable=False)


#: name -> (schema, SQL over the current versions; uint256 columns cast to text)
PROJECTIONS: dict[str, tuple[pa.Schema, str]] = {
    "lots": (
        _schema("lots", [_text("lot_id"), pa.field("kind", pa.uint8()), _text("creator"),
                         _text("quantity"), _text("metadata_hash"),
                         pa.field("quarantined", pa.bool_())]),
        "SELECT lot_id::text, kind, creator, quantity::text, metadata_hash, quarantined "
        "FROM projections_lotversion WHERE chain_id = %s AND block_to IS NULL ORDER BY lot_id",
    ),
    "holdings": (
        _schema("holdings", [_text("lot_id"), _text("holder"), _text("quantity")]),
        "SELECT lot_id::text, holder, quantity::text FROM projections_balance "
        "WHERE chain_id = %s AND block_to IS NULL AND quantity > 0 ORDER BY lot_id, holder",
    ),
    "handoffs": (
        _schema("handoffs", [_text("handoff_id"), _text("lot_id"), _text("sender"),
                             _text("receiver"), _text("quantity"), _text("status")]),
        "SELECT handoff_id::text, lot_id::text, sender, receiver, quantity::text, status "
        "FROM projections_handoffversion WHERE chain_id = %s AND block_to IS NULL "
        "ORDER BY handoff_id",
    ),
    "certificates": (
        _schema("certificates", [_text("certificate_id"), pa.field("subject_kind", pa.uint8()),
                                 _text("subject"), _text("certificate_type"), _text("issuer"),
                                 pa.field("valid_from", pa.timestamp("us", tz="UTC")),
                                 pa.field("valid_until", pa.timestamp("us", tz="UTC")),
                                 pa.field("revoked", pa.bool_())]),
        "SELECT certificate_id::text, subject_kind, subject::text, certificate_type, issuer, "
        "valid_from, valid_until, revoked FROM projections_certificateversion "
        "WHERE chain_id = %s AND block_to IS NULL ORDER BY certificate_id",
    ),
    "transformation_edges": (
        _schema("transformation_edges", [_text("transformation_id"), _text("input_lot"),
                                         _text("input_quantity"), _text("output_lot"),
                                         _text("output_quantity"), _text("actor")]),
        "SELECT transformation_id::text, input_lot::text, input_quantity::text, "
        "output_lot::text, output_quantity::text, actor FROM projections_transformationedge "
        "WHERE chain_id = %s ORDER BY transformation_id, input_lot, output_lot",
    ),
}  # fmt: skip

FIGURES_V1 = _schema(
    "figures",
    [
        _text("lot_id"),
        _text("footprint_g_per_unit"),
        pa.field("footprint_complete", pa.bool_()),
        _text("recycled_permille"),
        _text("certified_input_share"),
    ],
)


def _rows(sql: str, chain_id: int) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, [chain_id])
        return list(cursor.fetchall())


def _place(name: str, day: date) -> tuple[str, str]:
    """The partition and file name of a table's snapshot of `day`."""
    return (
        f"snapshots/{SNAPSHOTS_VERSION}/{name}/date={day.isoformat()}",
        f"{name}-{day.isoformat()}.parquet",
    )


def snapshot_taken(lake: Lake, name: str, day: date) -> bool:
    """Whether `day`'s snapshot of `name` is written: a day's snapshot is written once
    (a later one that day would differ, and files are immutable)."""
    partition, file = _place(name, day)
    return bool(lake.fs.exists(lake.path(partition, file)))


def _put(lake: Lake, name: str, day: date, table: pa.Table, entry: dict[str, Any]) -> bool:
    partition, file = _place(name, day)
    return file_put(lake, partition, file, table_bytes(table), entry)


def snapshot_projections(lake: Lake, *, day: date, chain_id: int) -> dict[str, int]:
    """Write the day's snapshot of every main projection at the mirror's head; returns
    the rows written per table (a table already snapshotted that day is left as it is)."""
    head = mirror_head(chain_id=chain_id)
    if head is None:
        return {}
    block = head[0]
    last = (
        ChainEvent.objects.filter(chain_id=chain_id, block_number__lte=block)
        .order_by("-id")
        .values_list("running_hash", flat=True)
        .first()
    )
    entry = {"as_of_block": block, "store_running_hash": last or ""}
    written: dict[str, int] = {}
    for name, (schema, sql) in PROJECTIONS.items():
        if snapshot_taken(lake, name, day):
            continue
        rows = _rows(sql, chain_id)
        columns: list[Any] = (
            list(zip(*rows, strict=True)) if rows else [[] for _ in schema.names[2:]]
        )
        data = {"chain_id": [chain_id] * len(rows), "as_of_block": [block] * len(rows)}
        data.update({f: list(c) for f, c in zip(schema.names[2:], columns, strict=True)})
        table = pa.Table.from_pydict(data, schema=schema)
        if _put(lake, name, day, table, {**entry, "rows": len(rows)}):
            written[name] = len(rows)
    if snapshot_taken(lake, "figures", day):
        return written
    lots = [int(r[0]) for r in _rows(PROJECTIONS["lots"][1], chain_id)]
    found = lots_figures(lot_ids=lots, block=block, chain_id=chain_id) if lots else {}
    ordered = [found[i] for i in lots if i in found]
    table = pa.Table.from_pydict(
        {
            "chain_id": [chain_id] * len(ordered),
            "as_of_block": [block] * len(ordered),
            "lot_id": [str(f.lot_id) for f in ordered],
            "footprint_g_per_unit": [str(f.footprint_g_per_unit) for f in ordered],
            "footprint_complete": [f.footprint_complete for f in ordered],
            "recycled_permille": [str(f.recycled_permille) for f in ordered],
            "certified_input_share": [str(f.certified_input_share) for f in ordered],
        },
        schema=FIGURES_V1,
    )
    if _put(lake, "figures", day, table, {**entry, "rows": len(ordered)}):
        written["figures"] = len(ordered)
    return written
