"""A consumer caught up with the whole event store by a command, with a progress bar: the
lake export and the warehouse refresh (and any long backfill) walk the store the same way.
It follows the consumer's cursor, so a killed run resumes where it stopped."""

from __future__ import annotations

from collections.abc import Callable

from rich.progress import Progress

from webapp.chain.consumers import Consumer
from webapp.chain.models import ChainEvent, ConsumerCursor
from webapp.chain.pipeline import consumer_catch_up


def consumer_backfill(
    *,
    consumer: Consumer,
    chain_id: int,
    batch: int,
    label: str,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[int, int]:
    """Apply every stored event after the consumer's cursor, `batch` events per
    transaction; `progress(done, total)` after each (and once before). Returns (done,
    total)."""
    cursor = ConsumerCursor.objects.filter(chain_id=chain_id, name=consumer.name).first()
    start = cursor.event_id if cursor else 0
    events = ChainEvent.objects.filter(chain_id=chain_id)
    total = events.count()
    done = events.filter(id__lte=start).count()
    progress(done, total)
    last = events.order_by("-id").values_list("id", flat=True).first() or 0
    with Progress() as bar:
        task = bar.add_task(label, total=total, completed=done)
        while done < total:
            before = done
            upto = (
                events.filter(id__gt=start)
                .order_by("id")
                .values_list("id", flat=True)[batch - 1 : batch]
            )
            until = upto[0] if upto else last
            consumer_catch_up(consumer=consumer, chain_id=chain_id, until=until, batch=batch)
            start = until
            done = events.filter(id__lte=start).count()
            bar.update(task, completed=done)
            progress(done, total)
            if done == before:
                break
    return done, total
