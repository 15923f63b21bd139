"""The chain indexer: mirrors every event of the system's contracts into the event store."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from web3 import Web3

from contracts.chain.deploy import Manifest
from contracts.chain.events import UndecodableLog
from webapp.chain.log_decoding import store_decode, stored_content_hash
from webapp.chain.models import Block, ChainEvent, Checkpoint, ParkedLog
from webapp.db_locks import LockBusy, advisory_lock

log = logging.getLogger(__name__)

GENESIS_RUNNING_HASH = "0x" + "00" * 32
#: A range that stored this many events refreshes the planner's statistics of the store.
ANALYZE_AFTER = 10_000

#: Called as ``hook(chain_id=..., to_block=...)`` inside the reorg transaction, before the
#: rows above the fork are deleted. The pipeline registers the one that rolls back the
#: consumers of the event store; the indexer itself knows none of them.
ReorgHook = Callable[..., None]
REORG_HOOKS: list[ReorgHook] = []


def on_reorg(hook: ReorgHook) -> None:
    """Register a hook to run in every reorg rollback (once, however often it is called)."""
    if hook not in REORG_HOOKS:
        REORG_HOOKS.append(hook)


class NodeRPCError(RuntimeError):
    """The node answered a JSON-RPC call with an error."""


class IndexerBusy(LockBusy):
    """Another indexer holds the leader lock for this chain."""


@dataclass(frozen=True)
class BatchResult:
    from_block: int
    to_block: int
    events: int
    parked: int
    reorg_depth: int = 0


def content_hash(row: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of what the event says and where it sits."""
    canonical = json.dumps(row, sort_keys=True, separators=(",", ":"))
    return "0x" + hashlib.sha256(canonical.encode()).hexdigest()


def chain_running_hash(previous: str, content: str) -> str:
    """The ledger chain: sha256(previous running hash ‖ this row's content hash)."""
    return "0x" + hashlib.sha256(bytes.fromhex(previous[2:] + content[2:])).hexdigest()


def event_content(
    *,
    chain_id: int,
    block_number: int,
    block_hash: str,
    transaction_hash: str,
    log_index: int,
    address: str,
    event: str,
    args: dict[str, Any],
) -> dict[str, Any]:
    return {
        "chainId": chain_id,
        "blockNumber": block_number,
        "blockHash": block_hash,
        "transactionHash": transaction_hash,
        "logIndex": log_index,
        "address": address,
        "event": event,
        "args": args,
    }


class ChainIndexer:
    """Mirror the system's contract events into the event store, one range per call.

    Flow of :meth:`run_once`:

    1. The target is the chain head minus the configured confirmations (0 on QBFT). The
       range starts after the checkpoint, or at the manifest's deployment block.
    2. Reorg check: when the checkpoint's block hash is no longer the chain's block at
       that height, walk back through the stored blocks to the newest one still on the
       chain (the common ancestor), delete every row above it, and restart from there.
    3. ``eth_getLogs`` over the range for the system's addresses; a range or result-count
       error halves the range (Besu caps ranges at 5,000 blocks) until it fits.
    4. The headers of the blocks with logs and of the range's last block come in one
       batch. A log whose block hash is not the header's means the chain moved under us:
       nothing is written and the next call's reorg check sorts it out.
    5. One database transaction writes the blocks, the events (ON CONFLICT DO NOTHING on
       (block hash, log index)), the parked logs and the checkpoint, so a crash anywhere
       replays the range instead of losing or doubling it.

    What follows the event store (projections, operation confirmation, notifications) is
    not the indexer's business: `webapp.chain.pipeline` runs those consumers after it, and
    a reorg tells them the fork block through the hooks in ``REORG_HOOKS``.
    """

    def __init__(
        self,
        w3: Web3,
        manifest: Manifest,
        *,
        confirmations: int | None = None,
        max_range: int | None = None,
    ) -> None:
        self.w3 = w3
        self.manifest = manifest
        self.chain_id = manifest.chain_id
        self.confirmations = (
            settings.INDEXER_CONFIRMATIONS if confirmations is None else confirmations
        )
        self.max_range = settings.INDEXER_MAX_RANGE if max_range is None else max_range
        self.range = self.max_range
        self.addresses = [Web3.to_checksum_address(a) for a in manifest.addresses.values()]
        self.names: dict[str, str] = {
            Web3.to_checksum_address(a): n for n, a in manifest.addresses.items()
        }

    # ------------------------------------------------------------------ public API

    def run_once(self) -> BatchResult | None:
        """Index the next range; None when the mirror is at the target head."""
        head = self.w3.eth.block_number
        target = head - self.confirmations
        checkpoint = self._checkpoint()
        depth = 0
        if checkpoint.block_hash:
            on_chain = self._hash_at(checkpoint.block_number)
            if on_chain is None:
                log.warning("node has no block %s yet (behind?); waiting", checkpoint.block_number)
                return None
            if on_chain != checkpoint.block_hash:
                depth = self._undo_reorg(checkpoint)
        start = checkpoint.block_number + 1
        if start > target:
            self._note_head(checkpoint, head)
            return BatchResult(start, start - 1, 0, 0, depth) if depth else None
        logs, end, end_hash = self._read_range(start, min(target, start + self.range - 1))
        headers = self._headers({int(lg["blockNumber"], 16) for lg in logs} | {start, end, head})
        if self._moved(checkpoint, logs, headers, start, end, end_hash):
            return None
        events, parked = self._store(checkpoint, logs, headers, end, head)
        return BatchResult(start, end, events, parked, depth)

    def run_until_head(self) -> int:
        """Index until the target head; returns the number of events stored."""
        total = 0
        while (result := self.run_once()) is not None:
            total += result.events
        return total

    # ------------------------------------------------------------------- internals

    def _checkpoint(self) -> Checkpoint:
        checkpoint, _ = Checkpoint.objects.get_or_create(
            chain_id=self.chain_id,
            defaults={"block_number": self.manifest.deployment_block - 1, "block_hash": ""},
        )
        return checkpoint

    def _undo_reorg(self, checkpoint: Checkpoint) -> int:
        """The checkpoint's block left the chain: roll back to the common ancestor."""
        ancestor_number = self.manifest.deployment_block - 1
        ancestor_hash = ""
        stored = Block.objects.filter(
            chain_id=self.chain_id, number__lt=checkpoint.block_number
        ).order_by("-number")
        for block in stored.iterator():
            if self._hash_at(block.number) == block.hash:
                ancestor_number, ancestor_hash = block.number, block.hash
                break
        depth = checkpoint.block_number - ancestor_number
        log.warning(
            "reorg on chain %s: rolling back from block %s to %s",
            self.chain_id,
            checkpoint.block_number,
            ancestor_number,
        )
        with transaction.atomic():
            # Whatever was made from the events above the fork goes in the same transaction
            # as the events themselves.
            for hook in REORG_HOOKS:
                hook(chain_id=self.chain_id, to_block=ancestor_number)
            above = {"chain_id": self.chain_id, "block_number__gt": ancestor_number}
            ChainEvent.objects.filter(**above).delete()
            ParkedLog.objects.filter(**above).delete()
            Block.objects.filter(chain_id=self.chain_id, number__gt=ancestor_number).delete()
            checkpoint.block_number = ancestor_number
            checkpoint.block_hash = ancestor_hash
            checkpoint.save()
        return depth

    def _read_range(self, start: int, end: int) -> tuple[list[dict[str, Any]], int, str | None]:
        """The logs of `start`..`end` (the end lowered while the node refuses the range), the
        range's end, and its block hash as seen before ``eth_getLogs``."""
        while True:
            end_hash = self._hash_at(end)  # seen before eth_getLogs, compared after it
            logs, got_end = self._get_logs(start, end)
            if got_end == end:
                return logs, end, end_hash
            end = got_end  # the node refused the range: read again at the smaller size

    @staticmethod
    def _moved(
        checkpoint: Checkpoint,
        logs: list[dict[str, Any]],
        headers: dict[int, dict[str, Any]],
        start: int,
        end: int,
        end_hash: str | None,
    ) -> bool:
        """Whether the chain moved while we read it.

        The range must hang off the checkpoint, its last block must be the one seen before
        eth_getLogs, and every log's block must be the header's. Otherwise nothing is
        written; the next call's reorg check sorts it out."""
        if checkpoint.block_hash and headers[start]["parent_hash"] != checkpoint.block_hash:
            log.warning("block %s no longer follows the checkpoint; retrying", start)
            return True
        if headers[end]["hash"] != end_hash:
            log.warning("block %s changed while indexing; retrying", end)
            return True
        for lg in logs:
            if headers[int(lg["blockNumber"], 16)]["hash"] != lg["blockHash"]:
                log.warning("block %s changed while indexing; retrying", lg["blockNumber"])
                return True
        return False

    def _hash_at(self, number: int) -> str | None:
        block = self._rpc("eth_getBlockByNumber", [hex(number), False])
        return str(block["hash"]) if block else None

    def _rpc(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC call: web3's result formatters cost more than the decoding."""
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise NodeRPCError(f"{method}: {response['error']}")
        return response["result"]

    def _get_logs(self, start: int, end: int) -> tuple[list[dict[str, Any]], int]:
        halved = False
        while True:
            try:
                logs = self._rpc(
                    "eth_getLogs",
                    [{"fromBlock": hex(start), "toBlock": hex(end), "address": self.addresses}],
                )
            except NodeRPCError as exc:
                if end == start or not _is_range_error(exc):
                    raise
                end = start + (end - start) // 2
                self.range = end - start + 1
                halved = True
                log.info("eth_getLogs refused the range; retrying with %s blocks", self.range)
                continue
            if not halved:  # grow back toward the configured range after a clean call
                self.range = min(self.max_range, self.range * 2)
            return list(logs), end

    def _headers(self, numbers: set[int]) -> dict[int, dict[str, Any]]:
        ordered = sorted(numbers)
        responses = self.w3.provider.make_batch_request(  # type: ignore[attr-defined]
            [("eth_getBlockByNumber", [hex(n), False]) for n in ordered]
        )
        if isinstance(responses, dict):  # the node refused the whole batch
            raise NodeRPCError(f"eth_getBlockByNumber batch: {responses.get('error')}")
        by_id = sorted(responses, key=lambda r: int(r["id"]))
        headers: dict[int, dict[str, Any]] = {}
        for n, response in zip(ordered, by_id, strict=True):
            if "error" in response or response.get("result") is None:
                raise NodeRPCError(f"block {n}: {response.get('error', 'not found')}")
            block = response["result"]
            headers[n] = {
                "hash": block["hash"],
                "parent_hash": block["parentHash"],
                "timestamp": datetime.fromtimestamp(int(block["timestamp"], 16), tz=UTC),
            }
        return headers

    def _store(
        self,
        checkpoint: Checkpoint,
        logs: list[Any],
        headers: dict[int, dict[str, Any]],
        end: int,
        head: int,
    ) -> tuple[int, int]:
        events: list[tuple[Any, ...]] = []  # in _EVENT_COLUMNS order
        documents: list[str] = []  # each event's args as JSON
        parked: list[ParkedLog] = []
        with transaction.atomic():
            last = (
                ChainEvent.objects.filter(chain_id=self.chain_id)
                .order_by("-block_number", "-log_index")
                .values_list("running_hash", flat=True)
                .first()
            )
            running = last or GENESIS_RUNNING_HASH
            checksum: dict[str, str] = {}
            for lg in sorted(
                logs, key=lambda x: (int(x["blockNumber"], 16), int(x["logIndex"], 16))
            ):
                number = int(lg["blockNumber"], 16)
                block_hash = lg["blockHash"]
                log_index = int(lg["logIndex"], 16)
                tx_hash = lg["transactionHash"]
                raw_address = lg["address"]
                address = checksum.get(raw_address) or checksum.setdefault(
                    raw_address, Web3.to_checksum_address(raw_address)
                )
                topics = [bytes.fromhex(t[2:]) for t in lg["topics"]]
                data = bytes.fromhex(lg["data"][2:])
                try:
                    spec, args = store_decode(topics, data)
                except UndecodableLog as exc:
                    parked.append(
                        ParkedLog(
                            chain_id=self.chain_id,
                            block_number=number,
                            block_hash=block_hash,
                            transaction_hash=tx_hash,
                            log_index=log_index,
                            address=address,
                            topics=list(lg["topics"]),
                            data=lg["data"],
                            error=str(exc),
                        )
                    )
                    continue
                args_json = json.dumps(args, sort_keys=True, separators=(",", ":"))
                digest = stored_content_hash(
                    chain_id=self.chain_id,
                    block_number=number,
                    block_hash=block_hash,
                    transaction_hash=tx_hash,
                    log_index=log_index,
                    address=address,
                    event=spec.name,
                    args_json=args_json,
                )
                documents.append(args_json)
                running = chain_running_hash(running, digest)
                events.append(
                    (
                        self.chain_id,
                        number,
                        block_hash,
                        headers[number]["timestamp"],
                        tx_hash,
                        int(lg["transactionIndex"], 16),
                        log_index,
                        self.names.get(address, spec.contract),
                        address,
                        spec.name,
                        args,
                        digest,
                        running,
                    )
                )
            block_numbers = {e[1] for e in events} | {p.block_number for p in parked}
            Block.objects.bulk_create(
                [
                    Block(
                        chain_id=self.chain_id,
                        number=n,
                        hash=headers[n]["hash"],
                        parent_hash=headers[n]["parent_hash"],
                        timestamp=headers[n]["timestamp"],
                    )
                    for n in sorted(block_numbers | {end})
                ],
                ignore_conflicts=True,
                batch_size=1000,
            )
            _insert_events(events, documents)
            ParkedLog.objects.bulk_create(parked, ignore_conflicts=True, batch_size=1000)
            checkpoint.block_number = end
            checkpoint.block_hash = headers[end]["hash"]
            checkpoint.block_timestamp = headers[end]["timestamp"]
            checkpoint.head_number = head
            checkpoint.head_timestamp = headers[head]["timestamp"]
            checkpoint.save()
        if len(events) >= ANALYZE_AFTER and connection.vendor == "postgresql":
            # A bulk load leaves the planner without statistics until autovacuum comes
            # round: the consumers' reads by id range then sort the whole rest of the store
            # for every batch. Fresh statistics make them walk the primary key instead.
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {ChainEvent._meta.db_table}")
        return len(events), len(parked)

    def _note_head(self, checkpoint: Checkpoint, head: int) -> None:
        if checkpoint.head_number != head:
            checkpoint.head_number = head
            checkpoint.head_timestamp = self._headers({head})[head]["timestamp"]
            checkpoint.save(update_fields=["head_number", "head_timestamp", "updated_at"])


_EVENT_COLUMNS = (
    "chain_id",
    "block_number",
    "block_hash",
    "block_timestamp",
    "transaction_hash",
    "transaction_index",
    "log_index",
    "contract",
    "address",
    "event",
    "args",
    "content_hash",
    "running_hash",
)


def _insert_events(events: list[tuple[Any, ...]], documents: list[str]) -> None:
    """Append events (tuples in _EVENT_COLUMNS order, their args also as JSON documents),
    skipping any already stored (same chain, block hash, log index).

    On PostgreSQL the rows go through COPY into a temporary table and one
    INSERT … SELECT … ON CONFLICT DO NOTHING: several times faster than a multi-row
    INSERT built by the ORM. Other databases use bulk_create.
    """
    if not events:
        return
    if connection.vendor != "postgresql":
        ChainEvent.objects.bulk_create(
            [ChainEvent(**dict(zip(_EVENT_COLUMNS, e, strict=True))) for e in events],
            ignore_conflicts=True,
            batch_size=1000,
        )
        return
    table = ChainEvent._meta.db_table
    columns = ", ".join(_EVENT_COLUMNS)
    args = _EVENT_COLUMNS.index("args")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS chain_event_in "
            f"ON COMMIT DELETE ROWS AS SELECT {columns} FROM {table} WITH NO DATA"
        )
        raw = cursor.cursor  # the psycopg cursor underneath Django's wrapper
        with raw.copy(f"COPY chain_event_in ({columns}) FROM STDIN") as copy:
            for e, document in zip(events, documents, strict=True):
                row = list(e)
                row[args] = document
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM chain_event_in "
            "ORDER BY block_number, log_index ON CONFLICT DO NOTHING"
        )
        cursor.execute("TRUNCATE chain_event_in")


def _is_range_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(
        marker in text
        for marker in ("range", "too many", "more than", "limit", "exceed", "-32005", "timeout")
    )


@contextlib.contextmanager
def leader_lock(chain_id: int) -> Iterator[None]:
    """Exactly one indexer per chain. Raises IndexerBusy at once when another process holds
    it; the lock goes with the holder's database session (or process), so a killed indexer
    never blocks the next."""
    busy = IndexerBusy(f"another indexer is running for chain {chain_id}")
    with advisory_lock(f"provenant-indexer-{chain_id}", busy=busy):
        yield
