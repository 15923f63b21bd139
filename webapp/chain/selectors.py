"""Reads of the chain mirror."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from webapp.chain.models import Checkpoint, ParkedLog


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
