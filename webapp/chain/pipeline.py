"""The mirror pipeline: index new blocks, then bring every consumer of the event store up
to the new head, in registration order.

:func:`chain_sync` is the one place that spells out that sequence; the worker task, the
``index_chain`` command, the demo, the tests' network helper and the benchmark call it.

Each consumer has its own cursor row (`ConsumerCursor`). A batch is applied and the cursor
moved in one transaction, so a crash replays the batch instead of losing or doubling it.
A consumer that raises is parked at the event that broke it (the events before it in the
batch are kept) and the others go on, except those that declared they come ``after`` it:
they wait for it. ``consumer_unpark`` lets it try again. On a
reorganisation the indexer calls :func:`consumers_rollback` inside its own rollback
transaction: every consumer past the fork undoes its work above it, last registered first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max, QuerySet
from django.db.models.base import ModelState
from django.utils import timezone

from webapp.chain.consumers import Consumer, registered_consumers
from webapp.chain.indexer import ChainIndexer
from webapp.chain.models import ChainEvent, ConsumerCursor

log = logging.getLogger(__name__)

BATCH = 2000


@dataclass(frozen=True)
class SyncResult:
    stored: int
    applied: dict[str, int]


def chain_sync(*, indexer: ChainIndexer, batch: int = BATCH) -> SyncResult:
    """Index to the head, then run every registered consumer up to it.

    Call it under the indexer's leader lock (``leader_lock``) where several processes may
    run it; consumers then never race each other on one chain.
    """
    stored = indexer.run_until_head()
    applied = consumers_run(chain_id=indexer.chain_id, batch=batch)
    return SyncResult(stored=stored, applied=applied)


def consumers_run(*, chain_id: int, batch: int = BATCH) -> dict[str, int]:
    """Bring each consumer, in order, to the events stored now; returns events applied.

    Consumers take turns, one batch each in registration order, so a batch of events read
    for the first is handed to the next ones as it is (they run behind or level with it)
    instead of being read again for each.
    """
    until = _last_event_id(chain_id)
    consumers = registered_consumers()
    applied = dict.fromkeys((c.name for c in consumers), 0)
    window = _EventWindow(chain_id)
    busy = list(consumers)
    while busy:
        still = []
        for consumer in busy:
            done, more = _consumer_batch(
                consumer=consumer, chain_id=chain_id, until=until, batch=batch, window=window
            )
            applied[consumer.name] += done
            if more:
                still.append(consumer)
        busy = still
    return applied


def consumer_catch_up(
    *, consumer: Consumer, chain_id: int, until: int | None = None, batch: int = BATCH
) -> int:
    """Apply the stored events after the consumer's cursor, up to event id `until`
    (default: the last stored one), one batch per transaction. Returns the events applied;
    a parked consumer applies nothing."""
    horizon = _last_event_id(chain_id) if until is None else until
    window = _EventWindow(chain_id)
    applied, more = 0, True
    while more:
        done, more = _consumer_batch(
            consumer=consumer, chain_id=chain_id, until=horizon, batch=batch, window=window
        )
        applied += done
    return applied


class _EventWindow:
    """The last batch of events read (all kinds), to hand to the next consumer that asks
    for the same stretch of the store. Events are read-only to consumers."""

    def __init__(self, chain_id: int) -> None:
        self.chain_id = chain_id
        self.after = -1
        self.limit = -1
        self.events: list[ChainEvent] = []
        self.full = False

    def read(
        self, *, after: int, limit: int, kinds: frozenset[str] | None, batch: int
    ) -> list[ChainEvent]:
        """The first `batch` events (of `kinds`) with after < id <= limit, in id order."""
        if after == self.after and limit <= self.limit:
            # The stored events of (after, limit] start with those of the window: the
            # window answers when it holds a whole batch of them or reaches the limit.
            covers = not self.full or self.events[-1].pk >= limit
            events = [e for e in self.events if e.pk <= limit]
            if kinds is not None:
                events = [e for e in events if e.event in kinds]
            if covers or len(events) >= batch:
                return events[:batch]
        rows = ChainEvent.objects.filter(chain_id=self.chain_id, id__gt=after, id__lte=limit)
        if kinds is not None:
            return _loaded(rows.filter(event__in=kinds).order_by("id")[:batch])
        events = _loaded(rows.order_by("id")[:batch])
        self.after, self.limit, self.events = after, limit, events
        self.full = len(events) == batch
        return events


_EVENT_FIELDS = tuple(f.attname for f in ChainEvent._meta.concrete_fields)


def _loaded(rows: QuerySet[ChainEvent]) -> list[ChainEvent]:
    """The events as model instances built from their column values: what the ORM returns,
    without ``Model.__init__`` per row, which costs more than a consumer's work on it."""
    db = rows.db
    events = []
    for values in rows.values_list(*_EVENT_FIELDS):
        event = ChainEvent.__new__(ChainEvent)
        event.__dict__.update(zip(_EVENT_FIELDS, values, strict=True))
        state = event._state = ModelState()
        state.adding, state.db = False, db
        events.append(event)
    return events


def _consumer_batch(
    *, consumer: Consumer, chain_id: int, until: int, batch: int, window: _EventWindow
) -> tuple[int, bool]:
    """Apply one batch in one transaction; returns (events applied, whether more remain)."""
    with transaction.atomic():
        cursor = _lock_cursor(chain_id=chain_id, name=consumer.name)
        # Never ahead of the consumers it relies on (a parked one holds it back too).
        limit = min([until, *_cursors(chain_id=chain_id, names=consumer.after)])
        if cursor.parked or cursor.event_id >= limit:
            return 0, False
        events = window.read(after=cursor.event_id, limit=limit, kinds=consumer.kinds, batch=batch)
        # A short batch means every event up to the limit was seen (kinds it does not
        # want included): the cursor may move there.
        reached = events[-1].pk if len(events) == batch else limit
        if events:
            try:
                with transaction.atomic():
                    consumer.apply(events, chain_id=chain_id)
            except Exception:
                return _apply_one_by_one(consumer, cursor, events), False
        cursor.event_id = reached
        cursor.save(update_fields=["event_id", "updated_at"])
        # Held back by a consumer it relies on: that one may move on in this same run
        # (the next turn finds out, and stops it when it did not).
        return len(events), reached < until


def _apply_one_by_one(consumer: Consumer, cursor: ConsumerCursor, events: list[ChainEvent]) -> int:
    """The batch raised: keep the events before the one that breaks, park at that one."""
    applied = 0
    for event in events:
        try:
            with transaction.atomic():
                consumer.apply([event], chain_id=cursor.chain_id)
        except Exception as exc:
            log.exception(
                "consumer %s parked at event %s (chain %s)",
                consumer.name,
                event.pk,
                cursor.chain_id,
            )
            cursor.parked_at = timezone.now()
            cursor.parked_event_id = event.pk
            cursor.error = f"{type(exc).__name__}: {exc}"
            cursor.save()
            return applied
        cursor.event_id = event.pk
        applied += 1
    # Each event alone went through (the batch's failure depended on the batch): nothing
    # to park; the cursor covers the batch.
    cursor.save(update_fields=["event_id", "updated_at"])
    return applied


def consumers_rollback(*, chain_id: int, to_block: int) -> None:
    """Undo every consumer's work above `to_block`, last registered first.

    The indexer calls it in its reorg transaction, before it deletes the events above the
    fork: a consumer is past the fork when its cursor covers one of them.
    """
    for consumer in reversed(registered_consumers()):
        consumer_rollback(consumer=consumer, chain_id=chain_id, to_block=to_block)


def consumer_rollback(*, consumer: Consumer, chain_id: int, to_block: int) -> None:
    with transaction.atomic():
        cursor = _lock_cursor(chain_id=chain_id, name=consumer.name)
        past = ChainEvent.objects.filter(
            chain_id=chain_id, id__lte=cursor.event_id, block_number__gt=to_block
        ).exists()
        if past:
            consumer.rollback(to_block, chain_id=chain_id)
            kept = ChainEvent.objects.filter(chain_id=chain_id, block_number__lte=to_block)
            cursor.event_id = min(cursor.event_id, kept.aggregate(last=Max("id"))["last"] or 0)
        if (
            cursor.parked_event_id is not None
            and ChainEvent.objects.filter(
                id=cursor.parked_event_id, block_number__gt=to_block
            ).exists()
        ):
            # The event that broke it left the chain: let it try the new chain.
            _clear_parking(cursor)
        cursor.save()


def consumer_unpark(*, chain_id: int, name: str) -> ConsumerCursor:
    """Let a parked consumer try again from the event that broke it."""
    with transaction.atomic():
        cursor = _lock_cursor(chain_id=chain_id, name=name)
        _clear_parking(cursor)
        cursor.save()
    return cursor


def consumer_reset(*, chain_id: int, name: str) -> None:
    """Move a consumer's cursor back to the start (after it dropped its own state)."""
    with transaction.atomic():
        cursor = _lock_cursor(chain_id=chain_id, name=name)
        cursor.event_id = 0
        _clear_parking(cursor)
        cursor.save()


def _clear_parking(cursor: ConsumerCursor) -> None:
    cursor.parked_at = None
    cursor.parked_event_id = None
    cursor.error = ""


def _lock_cursor(*, chain_id: int, name: str) -> ConsumerCursor:
    cursor, _ = ConsumerCursor.objects.select_for_update().get_or_create(
        chain_id=chain_id, name=name
    )
    return cursor


def _cursors(*, chain_id: int, names: tuple[str, ...]) -> list[int]:
    """Where the named consumers stand (0 for one that has not run yet)."""
    if not names:
        return []
    found = dict(
        ConsumerCursor.objects.filter(chain_id=chain_id, name__in=names).values_list(
            "name", "event_id"
        )
    )
    return [found.get(name, 0) for name in names]


def _last_event_id(chain_id: int) -> int:
    last = ChainEvent.objects.filter(chain_id=chain_id).aggregate(last=Max("id"))["last"]
    return int(last or 0)
