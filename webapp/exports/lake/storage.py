"""Writing the lake through fsspec: immutable files, a temp name then a rename, and one
JSON manifest per partition (the readers' source of truth).

Layout under the root (any fsspec URL, or a local path)::

    events/v1/kind=<Event>/date=<YYYY-MM-DD>/<chain>-<fromblock>-<toblock>-<firstid>.parquet
    events/v1/kind=<Event>/date=<YYYY-MM-DD>/_manifest.json
    retractions/v1/date=<YYYY-MM-DD>/<chain>-<fromblock>-<toblock>-g<generation>.parquet
    retractions/v1/date=<YYYY-MM-DD>/_manifest.json
    views.sql

A file's name fixes its content (the block range and the first event id of the batch), so
a rerun after a crash between the rename and the cursor's commit finds the same name and
the same SHA-256, and skips it; the manifest lists it once.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class Lake:
    fs: Any
    root: str

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])


def lake_open(url: str) -> Lake:
    fs, root = fsspec.core.url_to_fs(url)
    fs.makedirs(root, exist_ok=True)
    return Lake(fs=fs, root=root)


def table_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_read(lake: Lake, partition: str) -> dict[str, Any]:
    path = lake.path(partition, MANIFEST)
    if not lake.fs.exists(path):
        return {"partition": partition, "generation": 1, "files": []}
    with lake.fs.open(path, "rb") as f:
        data: dict[str, Any] = json.loads(f.read())
    return data


def manifest_write(lake: Lake, partition: str, manifest: dict[str, Any]) -> None:
    _put(lake, lake.path(partition, MANIFEST), json.dumps(manifest, indent=1).encode())


def file_put(lake: Lake, partition: str, name: str, data: bytes, entry: dict[str, Any]) -> bool:
    """Write one immutable file and list it in its partition's manifest. Returns False when
    the same file (same name, same SHA-256) is already there: a rerun after a crash."""
    digest = sha256(data)
    path = lake.path(partition, name)
    manifest = manifest_read(lake, partition)
    listed = any(f["name"] == name for f in manifest["files"])
    if lake.fs.exists(path):
        with lake.fs.open(path, "rb") as f:
            existing = sha256(f.read())
        if existing != digest:
            raise RuntimeError(f"{path} exists with other content: the lake was altered")
    else:
        _put(lake, path, data)
    if listed:
        return False
    manifest["files"].append({"name": name, "sha256": digest, "bytes": len(data), **entry})
    manifest_write(lake, partition, manifest)
    return True


def _put(lake: Lake, path: str, data: bytes) -> None:
    parent = path.rsplit("/", 1)[0]
    lake.fs.makedirs(parent, exist_ok=True)
    tmp = path + ".tmp"
    with lake.fs.open(tmp, "wb") as f:
        f.write(data)
    lake.fs.mv(tmp, path)


def partitions(lake: Lake, prefix: str) -> list[str]:
    """Every partition (relative path) under a prefix that has a manifest."""
    found = lake.fs.glob(lake.path(prefix, "**", MANIFEST))
    root = lake.root.rstrip("/") + "/"
    return sorted(p[len(root) :].rsplit("/", 1)[0] for p in found if p.startswith(root))
