"""One batch of projection changes, folded in memory and written set-based.

The projector folds a batch of events in chain order, each event closing the current
version of what it touches and opening the next one. Doing that against the database row
by row costs a query per entity and a Django model per version; here a batch instead

1. reads, in one query per table, the current version of every entity the batch's events
   will touch (`prefetch`: the handlers declare those keys, see ``touches``);
2. folds every event in memory on plain dicts, so an entity touched several times in the
   batch (a lot registered, handed off and quarantined) gets every intermediate version,
   closed at the event that replaced it, exactly as applying the events one at a time
   would;
3. writes the batch in two set-based statements per table: the stored versions it closed
   (one ``UPDATE … FROM unnest(ids, blocks)`` on PostgreSQL) and the versions it opened
   (``COPY`` on PostgreSQL, ``bulk_create`` elsewhere), in the caller's transaction — the
   one that moves the consumer's cursor.

An entity the prefetch did not cover is read on first touch, as before: a handler that
declares nothing is only slower, never wrong.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import connection, models
from django.db.models.expressions import RawSQL

from webapp.chain.models import ChainEvent
from webapp.projections.models import Balance

#: A version row in memory: field attnames to values, plus "id" (None until stored).
Row = dict[str, Any]
Slot = tuple[type[models.Model], tuple[tuple[str, Any], ...]]

#: Fields every version carries that a change does not copy from the previous version.
_VERSION_FIELDS = frozenset({"id", "chain_id", "block_from", "log_from", "block_to"})
_CHUNK = 500  # IN-list size: well under SQLite's bound on query parameters


def _norm(value: Any) -> Any:
    """One spelling per key value: Decimal and int ids alike, addresses as they are."""
    return value if isinstance(value, str) else int(value)


def _slot(model: type[models.Model], key: dict[str, Any]) -> Slot:
    items = sorted(key.items()) if len(key) > 1 else key.items()
    return model, tuple(
        (k, v) if v.__class__ is int or v.__class__ is str else (k, int(v)) for k, v in items
    )


@functools.cache
def _fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


class VersionBatch:
    """Versioned read-model changes of one batch (see the module docstring)."""

    def __init__(self, chain_id: int) -> None:
        self.chain_id = chain_id
        self._reset_batch()

    def _reset_batch(self) -> None:
        self._current: dict[Slot, Row | None] = {}
        self._new: dict[type[models.Model], list[Row]] = defaultdict(list)
        # Stored versions closed in this batch: id -> the block that closed it.
        self._closed: dict[type[models.Model], dict[int, int]] = defaultdict(dict)
        # Lots registered in this batch: nobody can hold one from before, so balance
        # look-ups for them need no query.
        self._fresh_lots: set[int] = set()

    # ------------------------------------------------------------------ reading

    def prefetch(self, wanted: Iterable[tuple[type[models.Model], dict[str, Any]]]) -> None:
        """Read the current version of every (model, key) in one query per model and key
        shape; a key with no current version is remembered as absent."""
        groups: dict[tuple[type[models.Model], tuple[str, ...]], set[Slot]] = defaultdict(set)
        for model, key in wanted:
            slot = _slot(model, key)
            if slot not in self._current:
                groups[(model, tuple(k for k, _ in slot[1]))].add(slot)
        for (model, names), slots in groups.items():
            for rows in self._current_rows(model, names, slots):
                for row in rows:
                    slot = (model, tuple((name, _norm(row[name])) for name in names))
                    if slot in slots and self._newer(self._current.get(slot), row):
                        self._current[slot] = row
            for slot in slots:
                self._current.setdefault(slot, None)

    def _current_rows(
        self, model: type[models.Model], names: tuple[str, ...], slots: set[Slot]
    ) -> Iterator[Iterable[Row]]:
        """The current versions of the keys in `slots`, and of a few more (every
        combination of their key values), as dicts."""
        current = model._default_manager.filter(chain_id=self.chain_id, block_to__isnull=True)
        values = {name: sorted({dict(s[1])[name] for s in slots}, key=str) for name in names}
        if connection.vendor == "postgresql":
            # One array parameter per key column: a batch is one short statement however
            # many entities it touches (an IN list costs a parameter per value to build).
            by_name = {f.attname: f for f in _fields(model)}
            for name in names:
                current = current.filter(_any(by_name[name], values[name]))
            yield current.values()
            return
        chunks = [
            [values[name][i : i + _CHUNK] for i in range(0, len(values[name]), _CHUNK)]
            for name in names
        ]
        for parts in itertools.product(*chunks):
            lookup = {f"{name}__in": part for name, part in zip(names, parts, strict=True)}
            yield current.filter(**lookup).values()

    @staticmethod
    def _newer(held: Row | None, row: Row) -> bool:
        return held is None or (row["block_from"], row["log_from"]) > (
            held["block_from"],
            held["log_from"],
        )

    def current(self, model: type[models.Model], **key: Any) -> Row | None:
        """The entity's current version as this batch sees it (None: it has none)."""
        slot = _slot(model, key)
        if slot in self._current:
            return self._current[slot]
        if model is Balance and _norm(key["lot_id"]) in self._fresh_lots:
            return None
        row: dict[str, Any] | None = (
            model.objects.filter(chain_id=self.chain_id, block_to__isnull=True, **key)  # type: ignore[attr-defined]
            .order_by("-block_from", "-log_from")
            .values()
            .first()
        )
        self._current[slot] = row
        return row

    # ------------------------------------------------------------------ folding

    @staticmethod
    def slot(model: type[models.Model], key: dict[str, Any]) -> Slot:
        """Where the entity's current version is held in the batch (``_current``)."""
        return _slot(model, key)

    def _set_current(self, model: type[models.Model], key: dict[str, Any], row: Row | None) -> None:
        self._current[_slot(model, key)] = row

    def _close_row(self, model: type[models.Model], row: Row, block: int) -> None:
        row["block_to"] = block
        if row.get("id") is not None:  # stored before this batch: updated at flush
            self._closed[model].setdefault(row["id"], block)

    def add(self, model: type[models.Model], event: ChainEvent, **values: Any) -> Row:
        row: Row = {"id": None, "chain_id": self.chain_id, "block_to": None}
        row["block_from"] = event.block_number
        row["log_from"] = event.log_index
        for field in _fields(model):
            name = field.attname
            if name in values:
                row[name] = values[name]
            elif name not in row:
                row[name] = field.get_default()
        self._new[model].append(row)
        return row

    def change(
        self,
        model: type[models.Model],
        event: ChainEvent,
        key: dict[str, Any],
        *,
        new: bool = False,
        **fields: Any,
    ) -> None:
        """Close the entity's current version at this event and open one with `fields`.

        `new` says the contract guarantees the entity did not exist (a fresh id), which
        saves the look-up.
        """
        now = None if new else self.current(model, **key)
        values: dict[str, Any] = {}
        if now is not None:
            values = {k: v for k, v in now.items() if k not in _VERSION_FIELDS}
            self._close_row(model, now, event.block_number)
        values.update(key)
        values.update(fields)
        self._set_current(model, key, self.add(model, event, **values))

    def close(self, model: type[models.Model], event: ChainEvent, **key: Any) -> None:
        now = self.current(model, **key)
        if now is not None:
            self._close_row(model, now, event.block_number)
            self._set_current(model, key, None)

    def close_all(self, model: type[models.Model], event: ChainEvent, **key: Any) -> None:
        """Close every current row matching `key` (stored or added in this batch)."""
        stored = model.objects.filter(chain_id=self.chain_id, block_to__isnull=True, **key)  # type: ignore[attr-defined]
        closed = self._closed[model]
        for pk in stored.values_list("id", flat=True):
            closed.setdefault(pk, event.block_number)  # one closed earlier stays closed then
        wanted = {k: _norm(v) for k, v in key.items()}
        for row in self._new[model]:
            if row["block_to"] is None and all(_norm(row[k]) == v for k, v in wanted.items()):
                row["block_to"] = event.block_number

    # ------------------------------------------------------------------ writing

    def _flush(self) -> None:
        for model, closed in self._closed.items():
            if closed:
                _close_stored(model, closed)
        for model, rows in self._new.items():
            if rows:
                _insert(model, rows)
        self._reset_batch()


def _any(field: models.Field[Any, Any], values: list[Any]) -> RawSQL:
    """`field` is one of `values` (PostgreSQL: ``= ANY`` of one array parameter)."""
    column = connection.ops.quote_name(field.column)
    return RawSQL(
        f"{column} = ANY(%s::{field.db_type(connection)}[])",
        [values],
        output_field=models.BooleanField(),
    )


def _close_stored(model: type[models.Model], closed: dict[int, int]) -> None:
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS t SET block_to = v.block_to"
                " FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, block_to)"
                " WHERE t.id = v.id",
                [list(closed), list(closed.values())],
            )
        return
    by_block: dict[int, list[int]] = defaultdict(list)
    for pk, block in closed.items():
        by_block[block].append(pk)
    for block, pks in by_block.items():
        for start in range(0, len(pks), _CHUNK):
            model.objects.filter(pk__in=pks[start : start + _CHUNK]).update(block_to=block)  # type: ignore[attr-defined]


def _insert(model: type[models.Model], rows: list[Row]) -> None:
    fields = _fields(model)
    if connection.vendor != "postgresql":
        names = [f.attname for f in fields]
        model.objects.bulk_create(  # type: ignore[attr-defined]
            [model(**{n: row[n] for n in names}) for row in rows], batch_size=1000
        )
        return
    # COPY: the versions are new rows (no conflict is possible), several times faster than
    # the multi-row INSERT the ORM builds.
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    as_json = [isinstance(f, models.JSONField) for f in fields]
    names = [f.attname for f in fields]
    sql = f"COPY {table} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(
                [
                    json.dumps(row[n], separators=(",", ":")) if j else row[n]
                    for n, j in zip(names, as_json, strict=True)
                ]
            )
