"""Edge cases found in review: chain moving during a read, lagging projector, odd payloads."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from web3 import Web3

from contracts.chain.client import build_transaction
from contracts.chain.deploy import Manifest
from contracts.chain.domain import LotKind
from tests.contracts.consortium import H1, H2, Consortium
from webapp.chain.indexer import ChainIndexer
from webapp.chain.models import ChainEvent
from webapp.chain.verification import verify_mirror
from webapp.projections.models import CertificateVersion, LotVersion
from webapp.projections.projector import Projector
from webapp.projections.selectors import bundle_contents

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CHAIN = 31337
HOLDER = "0x" + "11" * 20
ZERO = "0x" + "00" * 20
_tx = itertools.count(1)


def stored(block: int, log: int, name: str, args: dict[str, Any]) -> ChainEvent:
    """An event row as the indexer would store it (projector tests need no chain)."""
    return ChainEvent.objects.create(
        chain_id=CHAIN, block_number=block, block_hash=f"0x{block:064x}",
        block_timestamp=datetime.now(UTC), transaction_hash=f"0x{next(_tx):064x}",
        transaction_index=0, log_index=log, contract="Lots", address=HOLDER, event=name,
        args=args, content_hash="0x", running_hash="0x",
    )  # fmt: skip


def stored_lot(block: int, lot_id: int, quantity: int = 100) -> None:
    stored(block, 0, "LotRegistered", {
        "lotId": lot_id, "owner": HOLDER, "kind": 1, "quantity": quantity,
        "metadataHash": "0x", "gs1KeyHash": "0x",
    })  # fmt: skip
    stored(block, 1, "TransferSingle", {
        "operator": HOLDER, "from": ZERO, "to": HOLDER, "id": lot_id, "value": quantity,
    })  # fmt: skip


def projected_lots() -> set[int]:
    return {int(x) for x in LotVersion.objects.values_list("lot_id", flat=True)}


def test_a_rollback_never_skips_events_the_projector_had_not_reached() -> None:
    projector = Projector(CHAIN)
    stored_lot(1, 1)
    stored_lot(2, 2)
    projector.apply_pending()
    for block in (3, 4, 5):  # indexed, not projected yet
        stored_lot(block, block)
    ChainEvent.objects.filter(block_number__gt=4).delete()  # reorg: ancestor is block 4
    projector.rollback_to(4)
    projector.apply_pending()
    assert projected_lots() == {1, 2, 3, 4}


def test_events_stored_out_of_block_order_are_not_skipped_at_a_batch_edge() -> None:
    stored_lot(10, 1)
    stored_lot(5, 2)  # a later insert for an earlier block (e.g. a re-scan)
    Projector(CHAIN).apply_pending(batch=2)
    assert projected_lots() == {1, 2}


def test_a_bundle_listing_a_lot_twice_reports_the_sum() -> None:
    stored_lot(1, 7)
    stored(2, 0, "LotsBundled", {
        "bundleId": 9, "holder": HOLDER, "lotIds": [7, 7], "quantities": [10, 20],
        "escrow": HOLDER,
    })  # fmt: skip
    Projector(CHAIN).apply_pending()
    assert bundle_contents(chain_id=CHAIN, bundle_id=9) == {7: 30}


def test_certificate_times_beyond_year_9999_do_not_stop_the_projector() -> None:
    stored(1, 0, "CertificateIssued", {
        "certificateId": 1, "subjectKind": 1, "subject": 1, "certificateType": "0x" + "51" * 32,
        "issuer": HOLDER, "documentHash": "0x" + "22" * 32, "validFrom": 2**40 - 2,
        "validUntil": 2**40 - 1, "claimKeys": [], "claimValues": [],
    })  # fmt: skip
    Projector(CHAIN).apply_pending()
    assert CertificateVersion.objects.get().valid_from.year == 9999


@pytest.mark.node
def test_a_nul_character_in_a_reason_is_stored_not_fatal(
    chain: Consortium, w3: Web3, manifest: Manifest
) -> None:
    c = chain
    lot = c.register_lot(c.miner)
    c.act(c.miner, c.lots.functions.setQuarantine(lot, "bad\x00reason"))
    later = c.register_lot(c.miner)
    ChainIndexer(w3, manifest).run_until_head()
    row = ChainEvent.objects.get(event="QuarantineSet")
    assert row.args["reason"] == "bad\ufffdreason"
    assert ChainEvent.objects.filter(event="LotRegistered", args__lotId=later).exists()
    assert verify_mirror(w3, manifest).clean


def _replacement(c: Consortium, w3: Web3) -> str:
    call = c.lots.functions.registerLot(c.new_id(), 5, LotKind.PRODUCT, H1, H2)
    tx = build_transaction(w3, c.maker.address, call, gas=300_000)
    return "0x" + c.maker.sign_transaction(tx).hex()


@pytest.mark.node
@pytest.mark.parametrize("when", ["before eth_getLogs", "after eth_getLogs"])
def test_a_reorg_while_a_range_is_read_is_caught_and_repaired(
    chain: Consortium,
    w3: Web3,
    manifest: Manifest,
    monkeypatch: pytest.MonkeyPatch,
    when: str,
) -> None:
    c = chain
    c.register_lot(c.miner)
    ChainIndexer(w3, manifest).run_until_head()
    for _ in range(3):
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    raw = _replacement(c, w3)
    real = w3.provider.make_request
    fired: list[bool] = []

    def reorg_during_read(method: str, params: Any) -> Any:
        if method == "eth_getLogs" and not fired and when == "before eth_getLogs":
            fired.append(True)
            real("anvil_reorg", [3, [[raw, 0]]])  # type: ignore[arg-type]
        response = real(method, params)
        if method == "eth_getLogs" and not fired:
            fired.append(True)
            real("anvil_reorg", [3, [[raw, 0]]])  # type: ignore[arg-type]
        return response

    monkeypatch.setattr(w3.provider, "make_request", reorg_during_read)
    ChainIndexer(w3, manifest).run_until_head()
    monkeypatch.undo()
    ChainIndexer(w3, manifest).run_until_head()
    assert fired
    assert verify_mirror(w3, manifest).clean
