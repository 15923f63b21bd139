"""Explicit, versioned Parquet schemas of the lake.

A change of schema is a new version (a new ``v<N>`` directory); old files are never
rewritten. Addresses are checksummed strings, hashes (bytes32) 0x-hex strings, times UTC
timestamps; event arguments are canonical JSON with uint256 values as decimal strings.
"""

from __future__ import annotations

import pyarrow as pa

EVENTS_VERSION = "v1"
RETRACTIONS_VERSION = "v1"

EVENTS_V1 = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("chain_id", pa.uint64(), nullable=False),
        pa.field("block_number", pa.uint64(), nullable=False),
        pa.field("block_hash", pa.string(), nullable=False),
        pa.field("block_timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("transaction_hash", pa.string(), nullable=False),
        pa.field("transaction_index", pa.uint32(), nullable=False),
        pa.field("log_index", pa.uint32(), nullable=False),
        pa.field("contract", pa.string(), nullable=False),
        pa.field("address", pa.string(), nullable=False),
        pa.field("event", pa.string(), nullable=False),
        pa.field("args", pa.string(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("running_hash", pa.string(), nullable=False),
    ],
    metadata={"provenant.schema": "events/v1"},
)

RETRACTIONS_V1 = pa.schema(
    [
        pa.field("chain_id", pa.uint64(), nullable=False),
        pa.field("block_number", pa.uint64(), nullable=False),
        pa.field("block_hash", pa.string(), nullable=False),
        pa.field("log_index", pa.uint32(), nullable=False),
        pa.field("event", pa.string(), nullable=False),
        pa.field("generation", pa.uint32(), nullable=False),
        pa.field("retracted_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ],
    metadata={"provenant.schema": "retractions/v1"},
)
