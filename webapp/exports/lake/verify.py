"""Checking the lake against the event store: every listed file is there with its
SHA-256, no unlisted Parquet file sits in a partition, and every row equals its event
(content hash and running hash)."""

from __future__ import annotations

import io

import pyarrow.parquet as pq

from webapp.chain.models import ChainEvent
from webapp.exports.lake.storage import Lake, manifest_read, partitions, sha256


def lake_verify(lake: Lake) -> list[str]:
    """Every problem found (empty: the lake matches the store)."""
    problems: list[str] = []

    for partition in partitions(lake, "events") + partitions(lake, "retractions"):
        manifest = manifest_read(lake, partition)
        listed = {f["name"] for f in manifest["files"]}
        present = {p.rsplit("/", 1)[1] for p in lake.fs.glob(lake.path(partition, "*.parquet"))}
        problems += [
            f"{partition}/{n}: not listed in the manifest" for n in sorted(present - listed)
        ]
        for entry in manifest["files"]:
            where = f"{partition}/{entry['name']}"
            if entry["name"] not in present:
                problems.append(f"{where}: missing")
                continue
            with lake.fs.open(lake.path(partition, entry["name"]), "rb") as f:
                data = f.read()
            if sha256(data) != entry["sha256"]:
                problems.append(f"{where}: SHA-256 differs from the manifest")
                continue
            table = pq.read_table(io.BytesIO(data))
            if table.num_rows != entry["rows"]:
                problems.append(
                    f"{where}: {table.num_rows} rows, the manifest says {entry['rows']}"
                )
            if partition.startswith("events/"):
                problems += _rows_match(where, table.to_pylist())
    return problems


def _rows_match(where: str, rows: list[dict[str, object]]) -> list[str]:
    ids = [int(str(r["id"])) for r in rows]
    stored = {
        e.id: (e.content_hash, e.running_hash)
        for e in ChainEvent.objects.filter(id__in=ids).only("id", "content_hash", "running_hash")
    }
    problems = []
    for row in rows:
        key = int(str(row["id"]))
        if key not in stored:
            continue  # left the chain: the retractions cover it
        if stored[key] != (row["content_hash"], row["running_hash"]):
            problems.append(f"{where}: event {key} differs from the event store")
    return problems
