"""Build once, restore per test: the database rows a set-up wrote, kept as PostgreSQL COPY
data (the chain it wrote to is kept as an anvil snapshot: tests/chain_snapshot.py).

Onboarding organisations costs seconds; copying a few hundred rows back costs
milliseconds.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.management.color import no_style
from django.db import connection, transaction

from webapp.exports.warehouse.schema import SCHEMA as WAREHOUSE
from webapp.exports.warehouse.schema import TABLES as WAREHOUSE_TABLES

#: Rows Django writes itself when the schema is made (and again after each flush).
SCHEMA_TABLES = {"django_migrations", "django_content_type", "auth_permission"}


def _tables() -> list[str]:
    return [t for t in connection.introspection.table_names() if t not in SCHEMA_TABLES]


def _count(cursor: Any, table: str) -> int:
    cursor.execute(f'SELECT count(*) FROM "{table}"')
    return int(cursor.fetchone()[0])


def empty_tables() -> set[str]:
    """The tables without rows: a template may only add rows to these."""
    with connection.cursor() as cursor:
        return {t for t in _tables() if _count(cursor, t) == 0}


@dataclass
class RowsTemplate:
    """The rows a set-up wrote to tables that were empty before it, as COPY data."""

    rows: dict[str, bytes]

    @classmethod
    def dump(cls, empty_before: set[str]) -> RowsTemplate:
        rows = {}
        with connection.cursor() as cursor:
            changed = [t for t in _tables() if _count(cursor, t)]
            unexpected = sorted(set(changed) - empty_before)
            if unexpected:
                raise RuntimeError(f"the set-up wrote to tables that had rows: {unexpected}")
            for table in changed:
                buffer = io.BytesIO()
                with cursor.cursor.copy(f'COPY "{table}" TO STDOUT') as copy:
                    for chunk in copy:
                        buffer.write(chunk)
                rows[table] = buffer.getvalue()
        return cls(rows)

    def clear(self) -> None:
        with connection.cursor() as cursor:
            tables = ", ".join(f'"{t}"' for t in self.rows)
            cursor.execute(f"TRUNCATE {tables} CASCADE")

    def restore(self) -> None:
        """Copy the rows back (foreign keys are checked at commit) and move each table's
        id sequence past them."""
        models = [
            m for m in apps.get_models(include_auto_created=True) if m._meta.db_table in self.rows
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            for table, data in self.rows.items():
                with cursor.cursor.copy(f'COPY "{table}" FROM STDIN') as copy:
                    copy.write(data)
            for statement in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(statement)


def delete_instead_of_truncate(original: Any) -> Any:
    """A `sql_flush` for PostgreSQL that empties tables with DELETE, for the flush after
    each transactional test: TRUNCATE of some fifty tables costs about a second (a new
    file per table), DELETE of their few rows a few milliseconds. Foreign keys are
    deferred to the commit, by when every row is gone. The rows Django writes with the
    schema stay (the flush's post-migrate step would write them again); the warehouse's
    tables (schema ``reporting``, not Django's to flush) are emptied too. A flush that
    resets sequences or cascades is left to Django."""

    def sql_flush(
        ops: Any, style: Any, tables: list[str], *, reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:  # fmt: skip
        if reset_sequences or allow_cascade:
            return list(original(ops, style, tables, reset_sequences=reset_sequences,
                                 allow_cascade=allow_cascade))  # fmt: skip
        kept = SCHEMA_TABLES
        deletes = [f"DELETE FROM {ops.quote_name(t)};" for t in tables if t not in kept]
        # The warehouse's tables are unmanaged (Django's flush does not know them).
        deletes += [f"DELETE FROM {WAREHOUSE}.{t};" for t in WAREHOUSE_TABLES]
        return ["SET CONSTRAINTS ALL DEFERRED;", *deletes] if deletes else []

    return sql_flush
