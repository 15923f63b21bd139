"""Reads of the chain mirror."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.db.models import Max

from webapp.chain.models import ChainEvent, Checkpoint, ConsumerCursor, ParkedLog


@dataclass(frozen=True)
class IndexerHealth:
    chain_id: int
    head_block: int
    indexed_block: int
    lag_blocks: int
    lag_seconds: float
    parked_logs: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def indexer_health() -> list[IndexerHealth]:
    """Per chain: head seen, block indexed, lag in blocks and seconds, parked logs."""
    result = []
    for cp in Checkpoint.objects.order_by("chain_id"):
        lag_seconds = 0.0
        if cp.head_timestamp and cp.block_timestamp:
            lag_seconds = max(0.0, (cp.head_timestamp - cp.block_timestamp).total_seconds())
        result.append(
            IndexerHealth(
                chain_id=cp.chain_id,
                head_block=cp.head_number,
                indexed_block=cp.block_number,
                lag_blocks=max(0, cp.head_number - cp.block_number),
                lag_seconds=lag_seconds,
                parked_logs=ParkedLog.objects.filter(chain_id=cp.chain_id).count(),
            )
        )
    return result


@dataclass(frozen=True)
class ConsumerState:
    chain_id: int
    name: str
    event_id: int
    lag_events: int
    parked: bool
    parked_event_id: int | None
    error: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def consumer_states() -> list[ConsumerState]:
    """Per chain and consumer of the event store: its cursor, the events stored after it,
    and whether it is parked (with the event and the error that stopped it)."""
    last = dict(
        ChainEvent.objects.values("chain_id")
        .annotate(last=Max("id"))
        .values_list("chain_id", "last")
    )
    return [
        ConsumerState(
            chain_id=c.chain_id,
            name=c.name,
            event_id=c.event_id,
            lag_events=ChainEvent.objects.filter(chain_id=c.chain_id, id__gt=c.event_id).count()
            if last.get(c.chain_id, 0) > c.event_id
            else 0,
            parked=c.parked,
            parked_event_id=c.parked_event_id,
            error=c.error,
        )
        for c in ConsumerCursor.objects.order_by("chain_id", "name")
    ]
