"""Rows the per-event webhook path writes in bulk: the messages formed (they need their
ids back) and the delivery log's rows, by PostgreSQL's COPY.

Fifty messages or log rows per statement: as one INSERT, Django builds and psycopg
quotes and the server parses hundreds of parameters (each payload's JSON escaped into the
statement), which cost the one-event-per-request path more than half as much as its HTTP
request (cProfile of bench/delivery.py); COPY streams the same values. The messages' ids
are drawn from their sequence first, so they are known without an INSERT ... RETURNING.
Other databases: `bulk_create`.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from webapp.bulk import rows_copy
from webapp.streams.models import DeliveryAttempt, Message


def messages_store(messages: list[Message]) -> list[Message]:
    """Insert new `messages`; returns them with their ids, in order."""
    if not messages:
        return messages
    if connection.vendor != "postgresql":
        return Message.objects.bulk_create(messages)
    fields = Message._meta.concrete_fields
    table = connection.ops.quote_name(Message._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.wrap_database_errors, connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Message._meta.db_table, len(messages)],
        )
        ids = sorted(int(row[0]) for row in cursor.fetchall())
        for message, pk in zip(messages, ids, strict=True):
            message.pk = pk
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for message in messages:
                copy.write_row(
                    [f.get_db_prep_save(f.pre_save(message, True), connection) for f in fields]
                )
    for message in messages:  # stored now, as bulk_create leaves them
        message._state.adding = False
        message._state.db = connection.alias
    return messages


def attempts_store(rows: Sequence[DeliveryAttempt]) -> None:
    rows_copy(DeliveryAttempt, rows)
