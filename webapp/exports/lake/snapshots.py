"""Daily snapshots under ``snapshots/v1/<name>/date=<YYYY-MM-DD>/<name>-<date>.parquet``.

Personal fields go to the lake sealed, never in clear: the snapshot of personal values
holds the subject id, the field name, the salted commitment and the AES-GCM ciphertext
(sealed under the subject's data key). Forgetting the subject destroys that key, so every
copy already written becomes unreadable (crypto-shredding reaches the lake).
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from webapp.exports.lake.storage import Lake, file_put, table_bytes
from webapp.privacy.models import PersonalValue

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
