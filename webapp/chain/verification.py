"""Prove the mirror against the chain: every stored event must be on chain, unaltered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from web3 import Web3

from contracts.chain.deploy import Manifest
from contracts.chain.events import UndecodableLog, decode_log
from webapp.chain.indexer import (
    GENESIS_RUNNING_HASH,
    chain_running_hash,
    content_hash,
    event_content,
)
from webapp.chain.models import Block, ChainEvent, Checkpoint

Key = tuple[str, int]  # (block hash, log index)


@dataclass
class MirrorReport:
    from_block: int
    to_block: int
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    broken_chain: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.altered or self.broken_chain)


def verify_mirror(
    w3: Web3,
    manifest: Manifest,
    *,
    from_block: int | None = None,
    to_block: int | None = None,
    step: int = 5000,
) -> MirrorReport:
    """Re-read the chain's logs over a block range and compare them with the store.

    Missing: on chain, not stored. Extra: stored, not on chain (or decoded differently).
    Altered: a stored row whose fields no longer match its content hash, or whose content
    differs from the chain's. The running hash is re-derived over the whole store, so an
    edited, deleted or inserted row anywhere breaks it from that row on.
    """
    chain_id = manifest.chain_id
    checkpoint = Checkpoint.objects.filter(chain_id=chain_id).first()
    start = manifest.deployment_block if from_block is None else from_block
    end = (checkpoint.block_number if checkpoint else start - 1) if to_block is None else to_block
    report = MirrorReport(start, end)
    on_chain = _chain_content_hashes(w3, manifest, start, end, step)

    stored = ChainEvent.objects.filter(
        chain_id=chain_id, block_number__gte=start, block_number__lte=end
    )
    seen: set[Key] = set()
    for row in stored.iterator():
        key = (row.block_hash, row.log_index)
        seen.add(key)
        report.checked += 1
        where = f"block {row.block_number} log {row.log_index} ({row.event})"
        recomputed = content_hash(_content_of(row))
        if key not in on_chain:
            report.extra.append(where)
        elif recomputed != row.content_hash or on_chain[key] != row.content_hash:
            report.altered.append(where)
    report.missing = [f"block hash {h} log {i}" for (h, i) in on_chain if (h, i) not in seen]
    if to_block is None:
        # Nothing may sit above the checkpoint: the indexer never writes there.
        for row in ChainEvent.objects.filter(chain_id=chain_id, block_number__gt=end):
            report.extra.append(f"block {row.block_number} log {row.log_index} above checkpoint")

    _check_blocks(w3, chain_id, start, end, report)

    running = GENESIS_RUNNING_HASH
    for row in ChainEvent.objects.filter(chain_id=chain_id).iterator():
        running = chain_running_hash(running, content_hash(_content_of(row)))
        if running != row.running_hash:
            report.broken_chain.append(
                f"running hash breaks at block {row.block_number} log {row.log_index}"
            )
            break
    return report


def _chain_content_hashes(
    w3: Web3, manifest: Manifest, start: int, end: int, step: int
) -> dict[Key, str]:
    """The content hash of every system event the chain has over `start`..`end`, read
    `step` blocks at a time."""
    chain_id = manifest.chain_id
    addresses = [Web3.to_checksum_address(a) for a in manifest.addresses.values()]
    on_chain: dict[Key, str] = {}
    for lo in range(start, end + 1, step):
        hi = min(end, lo + step - 1)
        for lg in w3.eth.get_logs({"fromBlock": lo, "toBlock": hi, "address": addresses}):
            try:
                spec, args = decode_log([bytes(t) for t in lg["topics"]], bytes(lg["data"]))
            except UndecodableLog:
                continue  # parked by the indexer, not part of the event store
            key = (lg["blockHash"].to_0x_hex(), int(lg["logIndex"]))
            on_chain[key] = content_hash(
                event_content(
                    chain_id=chain_id,
                    block_number=int(lg["blockNumber"]),
                    block_hash=key[0],
                    transaction_hash=lg["transactionHash"].to_0x_hex(),
                    log_index=key[1],
                    address=Web3.to_checksum_address(lg["address"]),
                    event=spec.name,
                    args=args,
                )
            )
    return on_chain


def _check_blocks(w3: Web3, chain_id: int, start: int, end: int, report: MirrorReport) -> None:
    """Stored blocks (and the timestamps events carry) must be the chain's: the as-of-time
    queries and reorg detection rely on them."""
    blocks = list(
        Block.objects.filter(chain_id=chain_id, number__gte=start, number__lte=end).order_by(
            "number"
        )
    )
    stamps = dict(
        ChainEvent.objects.filter(chain_id=chain_id, block_number__gte=start, block_number__lte=end)
        .values_list("block_number", "block_timestamp")
        .distinct()
    )
    for lo in range(0, len(blocks), 500):
        chunk = blocks[lo : lo + 500]
        responses = w3.provider.make_batch_request(  # type: ignore[attr-defined]
            [("eth_getBlockByNumber", [hex(b.number), False]) for b in chunk]
        )
        for block, response in zip(
            chunk, sorted(responses, key=lambda r: int(r["id"])), strict=True
        ):
            header = response.get("result") or {}
            when = datetime.fromtimestamp(int(header.get("timestamp", "0x0"), 16), tz=UTC)
            if header.get("hash") != block.hash or header.get("parentHash") != block.parent_hash:
                report.altered.append(f"block {block.number}: hash differs from the chain")
            elif block.timestamp != when or stamps.get(block.number, when) != when:
                report.altered.append(f"block {block.number}: timestamp differs from the chain")


def _content_of(row: ChainEvent) -> dict[str, object]:
    return event_content(
        chain_id=row.chain_id,
        block_number=row.block_number,
        block_hash=row.block_hash,
        transaction_hash=row.transaction_hash,
        log_index=row.log_index,
        address=row.address,
        event=row.event,
        args=row.args,
    )
