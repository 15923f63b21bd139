"""The DuckDB view of the lake's clean history: events minus retracted ones.

Reader filter (any engine): keep an event row unless a retractions row has the same
``(chain_id, block_hash, log_index)``. Read only the files a partition's
``_manifest.json`` lists (a file not listed is not part of the lake).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from webapp.exports.lake.storage import Lake

VIEWS_SQL = """-- Provenant lake views (DuckDB). Run from the lake's root, or replace the paths.
CREATE OR REPLACE VIEW lake_events_all AS
  SELECT * FROM read_parquet('events/v1/*/*/*.parquet', hive_partitioning = true);
CREATE OR REPLACE VIEW lake_retractions AS
  SELECT * FROM read_parquet('retractions/v1/*/*.parquet', hive_partitioning = true,
                             union_by_name = true);
CREATE OR REPLACE VIEW lake_events AS
  SELECT e.* FROM lake_events_all e
  WHERE NOT EXISTS (
    SELECT 1 FROM lake_retractions r
    WHERE r.chain_id = e.chain_id AND r.block_hash = e.block_hash
      AND r.log_index = e.log_index
  );
"""

_EMPTY_RETRACTIONS = """CREATE OR REPLACE VIEW lake_retractions AS
  SELECT NULL::UBIGINT AS chain_id, NULL::VARCHAR AS block_hash, NULL::UINTEGER AS log_index
  WHERE false;
"""


def views_sql(*, retractions: bool = True) -> str:
    if retractions:
        return VIEWS_SQL
    start = VIEWS_SQL.index("CREATE OR REPLACE VIEW lake_retractions")
    end = VIEWS_SQL.index("CREATE OR REPLACE VIEW lake_events AS")
    return VIEWS_SQL[:start] + _EMPTY_RETRACTIONS + VIEWS_SQL[end:]


def views_write(lake: Lake) -> None:
    """Write (or bring up to date) the view file: the retractions view reads files once a
    reorganisation has written some, and is empty before (DuckDB refuses an empty glob)."""
    path = lake.path("views.sql")
    retractions = bool(lake.fs.glob(lake.path("retractions", "v1", "*", "*.parquet")))
    sql = views_sql(retractions=retractions).encode()
    if lake.fs.exists(path):
        with lake.fs.open(path, "rb") as f:
            if f.read() == sql:
                return
    with lake.fs.open(path, "wb") as f:
        f.write(sql)
