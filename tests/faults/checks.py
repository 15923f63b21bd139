"""What must hold after every fault, once the load has finished (DESIGN.md, principles 4
and 5): nothing accepted is lost or stuck, no fact is on chain twice, every nonce belongs
to exactly one known operation, the mirror matches the chain and every consumer has read
to the head."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from web3 import Web3

from tests.faults.load import Ledger
from tests.faults.site import Site, wait_for

SETTLE_DEADLINE_S = 240.0


@dataclass
class Outcome:
    recovered_s: float  # from the fault's end until everything below held
    confirmed: int
    failed: dict[str, str]  # operation id -> its reason


def settled(site: Site, ledger: Ledger, since: float) -> Outcome:
    """Wait until every accepted operation is final and the mirror is at the head; then
    check the rest. `since` is the monotonic time the fault ended."""

    def final() -> list[tuple[str, str, str]] | None:
        rows = site.sql(
            "SELECT id::text, status, error FROM operations_operation WHERE id::text = ANY(%s)",
            list(ledger.accepted),
        )
        if len(rows) != len(ledger.accepted):
            missing = set(ledger.accepted) - {r[0] for r in rows}
            raise AssertionError(f"accepted operations lost: {sorted(missing)[:5]}")
        if any(status not in ("confirmed", "failed") for _, status, _ in rows):
            return None
        return rows

    rows = wait_for("every accepted operation final", final, deadline_s=SETTLE_DEADLINE_S)
    wait_for("consumers at the head", lambda: _cursors_at_head(site), deadline_s=60)
    recovered = time.monotonic() - since
    failed = {i: error for i, status, error in rows if status == "failed"}
    assert all(failed.values()), f"failed without a reason: {failed}"
    _facts_once(site)
    _nonces(site)
    site.manage("verify_mirror")  # raises with the differences when it is not clean
    return Outcome(recovered, len(rows) - len(failed), failed)


def _cursors_at_head(site: Site) -> bool:
    ((head,),) = site.sql("SELECT coalesce(max(id), 0) FROM chain_chainevent")
    behind = site.sql(
        "SELECT name, event_id, parked_at FROM chain_consumercursor"
        " WHERE event_id <> %s OR parked_at IS NOT NULL",
        head,
    )
    if any(parked for _, _, parked in behind):
        raise AssertionError(f"a consumer is parked: {behind}")
    ((checkpoint,),) = site.sql("SELECT coalesce(max(block_number), 0) FROM chain_checkpoint")
    node_head = site.web3().eth.block_number
    # the mirror reads to the chain's head (bar the block being made right now)
    return not behind and checkpoint >= node_head - 3


def _facts_once(site: Site) -> None:
    """One lot per registration, one handoff per lot, one acceptance per handoff; and no
    transaction counted by two operations."""
    tx_per_operation = site.sql(
        "SELECT transaction_hash, count(*) FROM operations_operation"
        " WHERE status = 'confirmed' GROUP BY transaction_hash HAVING count(*) > 1"
    )
    assert not tx_per_operation, f"a transaction confirmed two operations: {tx_per_operation}"
    registered = site.sql(
        "SELECT count(*) FROM chain_chainevent WHERE event = 'LotRegistered'"
        " AND lower(args->>'owner') IN (SELECT lower(sender) FROM operations_operation"
        "   WHERE action = 'lot.register')"
    )[0][0]
    confirmed = site.sql(
        "SELECT count(*) FROM operations_operation WHERE action = 'lot.register'"
        " AND status = 'confirmed'"
    )[0][0]
    assert registered == confirmed, f"{registered} lots on chain, {confirmed} registrations"
    for event, key in (("HandoffInitiated", "lotId"), ("HandoffAccepted", "handoffId")):
        doubled = site.sql(
            "SELECT args->>%s, count(*) FROM chain_chainevent WHERE event = %s"
            " GROUP BY 1 HAVING count(*) > 1",
            key,
            event,
        )
        assert not doubled, f"{event} twice for the same {key}: {doubled}"


def _nonces(site: Site) -> None:
    """For each member: the node holds nothing beyond its mined transactions (no gap left
    waiting in the pool), and every nonce it used is one operation's transaction in a
    block, none used by two."""
    w3 = site.web3()
    for member in site.members.values():
        address = Web3.to_checksum_address(member.address)
        mined = w3.eth.get_transaction_count(address, "latest")
        pending = w3.eth.get_transaction_count(address, "pending")
        assert pending == mined, f"{member.slug}: {pending - mined} transactions stuck in the pool"
        nonces = [
            n
            for (n,) in site.sql(
                "SELECT nonce FROM operations_operation WHERE lower(sender) = lower(%s)"
                " AND mined_block IS NOT NULL",
                member.address,
            )
        ]
        nonces += [
            int(attempt["nonce"])
            for (attempts,) in site.sql(
                "SELECT reverted_attempts FROM operations_operation"
                " WHERE lower(sender) = lower(%s) AND reverted_attempts <> '[]'::jsonb",
                member.address,
            )
            for attempt in attempts
        ]  # transactions that reverted without effect before the operation was signed again
        doubled = [n for n, c in Counter(nonces).items() if c > 1]
        assert not doubled, f"{member.slug}: nonces used by two operations: {doubled}"
        assert sorted(nonces) == list(range(mined)), (
            f"{member.slug}: {mined} transactions on chain, operations hold nonces"
            f" {sorted(set(range(mined)) - set(nonces))[:10]} missing"
        )
