"""verify_mirror finds stored rows the chain never emitted, even when whoever wrote them
recomputed the content and running hashes so the store's own ledger chain stays intact."""

from __future__ import annotations

import pytest
from web3 import Web3

from contracts.chain.deploy import Manifest
from tests.contracts.consortium import Consortium
from webapp.chain.indexer import ChainIndexer, chain_running_hash, content_hash, event_content
from webapp.chain.models import Block, ChainEvent, Checkpoint
from webapp.chain.verification import verify_mirror

pytestmark = [
    pytest.mark.integration,
    pytest.mark.node,
    pytest.mark.django_db(transaction=True),
]


def test_a_fabricated_row_with_a_recomputed_running_hash_is_reported_as_extra(
    chain: Consortium, w3: Web3, manifest: Manifest
) -> None:
    real = chain.register_lot(chain.miner, quantity=10)
    ChainIndexer(w3, manifest).run_until_head()
    assert verify_mirror(w3, manifest).clean
    last = ChainEvent.objects.filter(chain_id=manifest.chain_id).last()
    assert last is not None

    # A LotRegistered the chain never emitted, slotted in after the last real row of the
    # last indexed block: its content hash and running hash are what the indexer would have
    # written, so only the comparison with the chain's logs can tell it apart.
    forged_args = dict(
        ChainEvent.objects.filter(event="LotRegistered", args__lotId=real).get().args,
        lotId=real + 1_000,
    )
    log_index = last.log_index + 1
    content = content_hash(
        event_content(
            chain_id=last.chain_id,
            block_number=last.block_number,
            block_hash=last.block_hash,
            transaction_hash=last.transaction_hash,
            log_index=log_index,
            address=last.address,
            event="LotRegistered",
            args=forged_args,
        )
    )
    ChainEvent.objects.create(
        chain_id=last.chain_id,
        block_number=last.block_number,
        block_hash=last.block_hash,
        block_timestamp=last.block_timestamp,
        transaction_hash=last.transaction_hash,
        transaction_index=last.transaction_index,
        log_index=log_index,
        contract=last.contract,
        address=last.address,
        event="LotRegistered",
        args=forged_args,
        content_hash=content,
        running_hash=chain_running_hash(last.running_hash, content),
    )

    report = verify_mirror(w3, manifest)

    assert report.extra == [f"block {last.block_number} log {log_index} (LotRegistered)"]
    assert (report.missing, report.altered, report.broken_chain) == ([], [], [])
    assert not report.clean


def test_a_row_above_the_checkpoint_is_reported_as_extra(
    chain: Consortium, w3: Web3, manifest: Manifest
) -> None:
    chain.register_lot(chain.miner, quantity=10)
    indexer = ChainIndexer(w3, manifest)
    indexer.run_until_head()
    checkpoint = Checkpoint.objects.get(chain_id=manifest.chain_id)
    covered = checkpoint.block_number
    chain.register_lot(chain.miner, quantity=20)
    indexer.run_until_head()
    above = list(ChainEvent.objects.filter(chain_id=manifest.chain_id, block_number__gt=covered))
    assert above  # real rows, with the indexer's own running hashes
    assert verify_mirror(w3, manifest).clean

    # The checkpoint goes back to where it was; the rows the indexer wrote after it stay,
    # as if someone had written them without the indexer (which never writes past it).
    Checkpoint.objects.filter(pk=checkpoint.pk).update(
        block_number=covered,
        block_hash=Block.objects.get(chain_id=manifest.chain_id, number=covered).hash,
    )

    report = verify_mirror(w3, manifest)

    assert report.extra == [
        f"block {row.block_number} log {row.log_index} above checkpoint" for row in above
    ]
    assert (report.missing, report.altered, report.broken_chain) == ([], [], [])
