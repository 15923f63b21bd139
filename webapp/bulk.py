"""New rows in bulk: PostgreSQL's COPY, `bulk_create` on other databases.

Thousands of rows at once (a capture, a batch of operations) spend most of their time in
building one large INSERT statement and its parameters; COPY streams them instead. Each
value is prepared by its field (`pre_save`, then `get_db_prep_save`), exactly as an INSERT
would have it: defaults, `auto_now_add` and custom fields behave the same. A primary key
the database assigns (an auto field) is left to it; rows keep no id then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models


def rows_copy(model: type[models.Model], rows: Sequence[models.Model]) -> None:
    """Insert `rows` of `model` (new ones); database errors surface as django's
    (IntegrityError for a unique violation)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(rows, batch_size=2000)
        return
    fields = [
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and isinstance(f, models.AutoField | models.BigAutoField))
    ]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields])
    for row in rows:  # stored now, as bulk_create leaves them: a save() updates
        row._state.adding = False
        row._state.db = connection.alias


def server_bound(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run one statement on PostgreSQL with its parameters bound by the server, and return
    the rows it answers (none for a statement without RETURNING).

    Django binds on the client: every value is quoted into the SQL text in Python, which
    for a few large arrays (an ``unnest`` insert of thousands of rows) costs more than the
    statement. Bound by the server they go as values (in binary, with ``%b`` placeholders)."""
    import psycopg

    connection.ensure_connection()
    raw: Any = psycopg.Cursor(connection.connection)  # the stubs know only Django's cursors
    # wrapped as Django wraps its own: errors as Django's, and counted where queries are
    cursor = (
        connection.make_debug_cursor(raw)
        if connection.queries_logged
        else connection.make_cursor(raw)
    )
    with cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if raw.description else []
