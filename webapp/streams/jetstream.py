"""Every mirrored fact, published to a NATS JetStream stream for the data platform.

Subjects are ``<prefix>.<chain id>.<event type>`` (``provenant.1337.LotRegistered``) and
``<prefix>.<chain id>.retracted``; the body is the JSON of
:func:`webapp.streams.payloads.fact_payload` (or ``retraction_payload``), and the header
``Nats-Msg-Id`` is the fact's event id, so the server drops a repeat inside the stream's
duplicate window. Downstream teams create their own consumers on the stream and replay it
from any stream sequence or time.

Why a process of its own (``manage.py publish_jetstream``) and not a pipeline consumer in
``CHAIN_CONSUMERS``: a consumer's ``apply`` runs inside the transaction that moves its
cursor, and a message published from there cannot be taken back when that transaction
rolls back; worse, while NATS is down the consumer would raise, be parked, and hold back
every consumer that comes ``after`` it, and a reorg hook talking to NATS would make the
indexer's reorg fail with it. A publisher with its own cursor (a `ConsumerCursor` named
``jetstream``, which the pipeline does not run) waits for NATS without holding anything
else back, and catches up when it returns.

Flow of :meth:`JetStreamPublisher.publish_pending`, per chain:

1. Read up to ``batch`` events after the cursor, in store order (ChainEvent.id, the
   global sequence).
2. Publish them in order without waiting on each message; while their acks come in, read
   and send the next batch (one batch in flight), then wait (with a deadline) for every
   ack of the first. Any failure: nothing moves; the caller backs off, and the next try
   first walks the stream back (see 4) to learn what it stored without an ack, then
   sends the rest; within the duplicate window the server would drop repeats anyway.
3. Move the cursor to the batch's last event, in the database. A crash between 2 and 3
   sends the batch again on the next start; see 4 for why that still doubles nothing.

4. Reorganisations. ``ChainIndexer._undo_reorg`` runs its ``REORG_HOOKS`` (the
   pipeline's ``consumers_rollback``, registered in ``ChainConfig.ready``) and then
   deletes the events above the fork, both in one transaction: only a hook sees the
   rows, and only for the consumers the pipeline runs; by the time this process looks
   they are gone. Rather than tie the indexer's reorg to NATS, the
   publisher uses the stream itself as the record of what it published: the publisher
   remembers the highest event id it may have published (``reach``); when that row has
   left the store (and at every start, when it knows nothing), it walks the stream back
   from its end over this chain's subjects. A fact whose event is no longer stored (and
   not already retracted further on) gets a retraction message, built from the stored
   payload, newest first; a fact still stored but above the cursor (a batch acked
   before a crash) is remembered and not sent again, whatever the duplicate window. The
   walk stops at the first stored fact at or below the cursor. The cursor then moves
   back to the newest event that survived.

Known limits: a batch that failed half-way may leave a gap that the retry fills at the
stream's end (stream order then differs from store order for those few messages; the
payload's ``sequence`` keeps the store's order). A message the server refuses for good
(larger than its max payload) is retried for ever, loudly in the log.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Max, QuerySet
from django.db.models.base import ModelState
from django.utils import timezone

from webapp.chain.models import ChainEvent, Checkpoint, ConsumerCursor
from webapp.streams.alerts import alert_events_published, alert_events_unpublished
from webapp.streams.jetstream_link import MAX_IN_FLIGHT, JetStreamLink, NatsUnavailable, Outgoing
from webapp.streams.payloads import fact_event_id, fact_payload, retraction_payload

log = logging.getLogger(__name__)

CURSOR_NAME = "jetstream"
BATCH = 2000
#: Stream sequences read per request of the walk back, and at most in one walk.
WALK_CHUNK = 256
WALK_LIMIT = 50_000


class JetStreamPublisher:
    """Publishes the event store to JetStream from its own cursor (see the module doc)."""

    def __init__(
        self, *, link: JetStreamLink, batch: int = BATCH, cursor_name: str = CURSOR_NAME
    ) -> None:
        self.link = link
        self.config = link.config
        self.batch = min(batch, MAX_IN_FLIGHT)
        self.cursor_name = cursor_name
        #: Per chain: the highest event id that may be in the stream (None: unknown).
        self._reach: dict[int, int] = {}
        #: Per chain: facts above the cursor that the stream already holds (id: sequence).
        self._known: dict[int, dict[str, int]] = {}

    # ------------------------------------------------------------------ public API

    def publish_pending(self, *, chain_ids: Iterable[int] | None = None) -> int:
        """Publish every chain's facts stored now; returns how many were published.
        Raises NatsUnavailable when NATS did not acknowledge a batch (the cursor stays
        before it)."""
        chains = sorted(set(chain_ids) if chain_ids is not None else _known_chains())
        published = sum(self._publish_chain(chain_id) for chain_id in chains)
        return published + self._publish_alerts()

    def run(
        self,
        *,
        stop: threading.Event,
        chain_ids: Iterable[int] | None = None,
        idle_s: float = 0.5,
        backoff_s: tuple[float, float] = (0.25, 30.0),
    ) -> None:
        """Publish until `stop` is set: new facts as they are stored; while NATS is away,
        wait (doubling from backoff_s[0] up to backoff_s[1]) and try again."""
        chains = list(chain_ids) if chain_ids is not None else None
        delay = backoff_s[0]
        while not stop.is_set():
            try:
                self.link.ensure_stream()
                published = self.publish_pending(chain_ids=chains)
            except NatsUnavailable as exc:
                log.warning("JetStream unavailable (%s); trying again in %.2f s", exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, backoff_s[1])
                continue
            delay = backoff_s[0]
            if not published:
                stop.wait(idle_s)

    # ------------------------------------------------------------------- internals

    def _publish_chain(self, chain_id: int) -> int:
        """Batches in store order, one in flight while the next is read and sent: the
        cursor moves to a batch's end once all its acks are in, batches in order."""
        published = 0
        batches: list[_Batch] = []  # sent, not yet settled: at most two
        after: int | None = None
        try:
            while True:
                if self._removed(chain_id):
                    while batches:  # the walk must see the stream settled
                        published += self._settle(chain_id, batches.pop(0))
                    self._walk_back(chain_id)
                    after = None
                if after is None:
                    after = self._cursor(chain_id).event_id
                sending = self._send(chain_id, after)
                if sending is not None:
                    batches.append(sending)
                    after = sending.last
                if len(batches) == 2 or (batches and sending is None):
                    published += self._settle(chain_id, batches.pop(0))
                if not batches:
                    return published
        except NatsUnavailable:
            # Some of what was sent may be stored without an ack (buffered while the
            # connection was down, then flushed): the next try walks the stream back
            # first, so it neither doubles them nor relies on the duplicate window.
            self._reach.pop(chain_id, None)
            raise
        finally:
            for batch in batches:
                batch.acks.cancel()  # not counted: the next run sends it again

    def _publish_alerts(self) -> int:
        """The alert events not yet published (`webapp.streams.alerts`), oldest first; a
        row is marked once its batch is acknowledged (sent again after a crash in between,
        the same `Nats-Msg-Id` inside the duplicate window)."""
        published = 0
        while events := alert_events_unpublished(limit=self.batch):
            self.link.publish(
                [
                    Outgoing(
                        subject=self.config.alert_subject(e.organisation.slug),
                        body=_json(e.data),
                        msg_id=e.event_id,
                    )
                    for e in events
                ]
            )
            alert_events_published(events)
            published += len(events)
        return published

    def _send(self, chain_id: int, after: int) -> _Batch | None:
        """Read the batch after event `after` and start publishing it (None: no events)."""
        events = _loaded(
            ChainEvent.objects.filter(chain_id=chain_id, id__gt=after).order_by("id")[: self.batch]
        )
        if not events:
            return None
        known = self._known.get(chain_id)
        fresh = [e for e in events if fact_event_id(e) not in known] if known else events
        # Counted as possibly published before the first byte goes out.
        self._reach[chain_id] = max(self._reach.get(chain_id, 0), events[-1].pk)
        acks = self.link.publish_begin([self._message(e) for e in fresh])
        return _Batch(acks=acks, last=events[-1].pk, count=len(events))

    def _settle(self, chain_id: int, batch: _Batch) -> int:
        self.link.publish_wait(batch.acks)
        self._cursor_move(chain_id, batch.last)
        known = self._known.get(chain_id)
        if known:  # those at or below the cursor are behind us now
            self._known[chain_id] = {k: v for k, v in known.items() if v > batch.last}
        return batch.count

    def _message(self, event: ChainEvent) -> Outgoing:
        return Outgoing(
            subject=self.config.subject(event.chain_id, event.event),
            body=_json(fact_payload(event)),
            msg_id=fact_event_id(event),
        )

    def _removed(self, chain_id: int) -> bool:
        """Whether something published may have left the store (or nothing is known yet)."""
        reach = self._reach.get(chain_id)
        return reach is None or (
            reach > 0 and not ChainEvent.objects.filter(chain_id=chain_id, pk=reach).exists()
        )

    def _walk_back(self, chain_id: int) -> None:
        cursor = self._cursor(chain_id).event_id
        if self.link.holds(f"{self.config.subject_prefix}.{chain_id}.>"):
            removed, known = self._scan(chain_id, cursor)
        else:  # nothing of this chain was ever published (or the stream was replaced)
            removed, known = {}, {}
        if removed:
            log.warning(
                "chain %s: retracting %s published facts that left the store",
                chain_id,
                len(removed),
            )
            self.link.publish(
                [
                    Outgoing(
                        subject=self.config.subject(chain_id, "retracted"),
                        body=_json(retraction_payload(_event_from(payload))),
                        msg_id=f"{fact_id}.retracted",
                    )
                    for fact_id, payload in sorted(
                        removed.items(), key=lambda item: -int(item[1]["sequence"])
                    )
                ]
            )
        survivor = (
            ChainEvent.objects.filter(chain_id=chain_id, id__lte=cursor).aggregate(last=Max("id"))[
                "last"
            ]
            or 0
        )
        if survivor != cursor:
            self._cursor_move(chain_id, survivor)
        self._known[chain_id] = known
        self._reach[chain_id] = max([survivor, *known.values()])

    def _scan(self, chain_id: int, cursor: int) -> tuple[dict[str, Any], dict[str, int]]:
        """Walk the stream back over the chain's messages down to the first stored fact
        at or below the cursor: the published facts that left the store (not retracted
        yet), and those above the cursor that are still stored (id: sequence)."""
        prefix = f"{self.config.subject_prefix}.{chain_id}."
        retracted: set[str] = set()
        removed: dict[str, dict[str, Any]] = {}
        known: dict[str, int] = {}
        before: int | None = None
        for _ in range(WALK_LIMIT // WALK_CHUNK):
            stored, lowest = self.link.recent(before=before, count=WALK_CHUNK)
            payloads = [s.payload for s in stored if s.subject.startswith(prefix)]
            facts = [p for p in payloads if p.get("type") != "retracted"]
            alive = _stored_ids(chain_id, [p["sequence"] for p in facts])
            for payload in payloads:  # newest first
                fact_id = payload["id"]
                if payload.get("type") == "retracted":
                    retracted.add(fact_id)
                elif fact_id in retracted or fact_id in removed:
                    continue
                elif fact_id not in alive:
                    removed[fact_id] = payload
                elif payload["sequence"] <= cursor:
                    return removed, known
                else:
                    known[fact_id] = payload["sequence"]
            if lowest == 0:
                return removed, known
            before = lowest
        log.error("JetStream walk back on chain %s stopped after %s messages", chain_id, WALK_LIMIT)
        return removed, known

    def _cursor(self, chain_id: int) -> ConsumerCursor:
        cursor, _ = ConsumerCursor.objects.get_or_create(chain_id=chain_id, name=self.cursor_name)
        return cursor

    def _cursor_move(self, chain_id: int, event_id: int) -> None:
        ConsumerCursor.objects.filter(chain_id=chain_id, name=self.cursor_name).update(
            event_id=event_id, updated_at=timezone.now()
        )


@dataclass(frozen=True)
class _Batch:
    acks: Future[None]
    last: int
    count: int


_EVENT_FIELDS = tuple(f.attname for f in ChainEvent._meta.concrete_fields)


def _loaded(rows: QuerySet[ChainEvent]) -> list[ChainEvent]:
    """The events as model instances built from their column values, without
    ``Model.__init__`` per row (a third of the publisher's time otherwise)."""
    db = rows.db
    events = []
    for values in rows.values_list(*_EVENT_FIELDS):
        event = ChainEvent.__new__(ChainEvent)
        event.__dict__.update(zip(_EVENT_FIELDS, values, strict=True))
        event._state = ModelState()
        event._state.adding, event._state.db = False, db
        events.append(event)
    return events


def _known_chains() -> set[int]:
    return set(Checkpoint.objects.values_list("chain_id", flat=True))


def _stored_ids(chain_id: int, sequences: list[int]) -> set[str]:
    """The event ids of those of `sequences` still in the store, as the same events (a
    reset database may have given the id to another event)."""
    if not sequences:
        return set()
    rows = ChainEvent.objects.filter(chain_id=chain_id, pk__in=sequences)
    return {fact_event_id(e) for e in rows.only("id", "chain_id", "block_hash", "log_index")}


def _event_from(payload: dict[str, Any]) -> ChainEvent:
    """The (unsaved) event a published payload was made from."""
    chain = payload["chain"]
    return ChainEvent(
        id=payload["sequence"],
        chain_id=chain["chainId"],
        block_number=chain["blockNumber"],
        block_hash=chain["blockHash"],
        block_timestamp=datetime.fromisoformat(chain["blockTime"]),
        transaction_hash=chain["transactionHash"],
        transaction_index=chain["transactionIndex"],
        log_index=chain["logIndex"],
        contract=payload["contract"],
        event=payload["type"],
        args=payload["fact"],
    )


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), default=str).encode()
