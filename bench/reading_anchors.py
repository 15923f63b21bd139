"""Gas of anchoring sensor readings, per reading, measured on a fresh local node.

Batches of 1,000 canonical reading items (`contracts.proofs.readings.reading_item`: one
truck's temperatures a second apart) are hashed into a Merkle tree and their root anchored
with ``Anchors.anchor(root, "SENSOR_READINGS", 1000, "")``, exactly the call
`webapp.monitoring.anchoring` queues. Several batches are anchored by one participant, so
the figure is a steady one. Prints the gas of one anchoring transaction, the time to build
one batch's tree and all its inclusion paths, and last
``anchor_gas_per_reading: G`` (the largest anchoring transaction's gas / 1,000; target
at most 100).

    python bench/reading_anchors.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from web3 import Web3

from contracts.chain.client import LocalSigner, transact
from contracts.chain.deploy import deploy_system
from contracts.chain.domain import Role, ascii32
from contracts.proofs.merkle import item_leaf, merkle_paths, merkle_root
from contracts.proofs.readings import READINGS_KIND, reading_item
from deploy.local.node import AnvilNode

READINGS_PER_ROOT = 1000
BATCHES = 5
T0 = datetime(2026, 7, 1, tzinfo=UTC)


def batch(number: int) -> list[dict[str, object]]:
    """One truck's 1,000 temperatures, a second apart (batch `number` follows the last)."""
    first = number * READINGS_PER_ROOT
    return [
        reading_item(
            lot_id=1_000_000 + number,
            time=T0 + timedelta(seconds=first + i),
            type="gs1:Temperature",
            value=Decimal("4.125") + Decimal(i % 40) / 10,
            unit="CEL",
            device_id="urn:epc:id:giai:4000001.111",
            device_seq=first + i,
            latitude=Decimal("52.370216"),
            longitude=Decimal("4.895168"),
        )
        for i in range(READINGS_PER_ROOT)
    ]


def main() -> None:
    with AnvilNode() as node, tempfile.TemporaryDirectory() as tmp:
        w3 = Web3(Web3.HTTPProvider(node.url))
        admin, carrier = LocalSigner.create(), LocalSigner.create()
        _, system, _ = deploy_system(w3, admin, directory=Path(tmp))
        register = system.lots.functions.registerParticipant(
            carrier.address, int(Role.DISTRIBUTOR), b"\0" * 32
        )
        transact(w3, admin, register)
        kind = ascii32(READINGS_KIND)
        gases: list[int] = []
        build_seconds: list[float] = []
        for number in range(BATCHES):
            items = batch(number)
            started = time.perf_counter()
            leaves = [item_leaf(i) for i in items]
            root = merkle_root(leaves)
            merkle_paths(leaves, range(len(leaves)))
            build_seconds.append(time.perf_counter() - started)
            call = system.anchors.functions.anchor(root, kind, len(items), "")
            gases.append(int(transact(w3, carrier, call)["gasUsed"]))

    print(f"readings_per_root: {READINGS_PER_ROOT}")
    print(f"anchor_gas: {max(gases)} gas (batches: {', '.join(map(str, gases))})")
    print(f"batch_tree_and_paths_ms: {1000 * min(build_seconds):.0f}")
    print(f"anchor_gas_per_reading: {max(gases) / READINGS_PER_ROOT:.1f}")


if __name__ == "__main__":
    main()
