"""Outlets of the verified history for the rest of a data estate.

Each outlet is a consumer of the event store (`webapp.chain.consumers`) with its own cursor:
incremental, reorg-aware and restartable.

- ``lake``: Parquet files in a Hive-partitioned layout, with manifests checkable against the
  chain;
- ``warehouse``: a star schema in PostgreSQL (schema ``reporting``);
- ``search``: full-text and faceted search in PostgreSQL.

The three do not import each other.
"""
