"""The main flows on a real JSON-RPC node (anvil), as the portal and workers will use it."""

from __future__ import annotations

import pytest

from contracts.chain.client import TransactionReverted, send_transaction
from contracts.chain.domain import LotKind, SubjectKind, ascii32
from tests.contracts.consortium import H1, H2, Consortium

pytestmark = [pytest.mark.chain, pytest.mark.node]


def test_a_lot_travels_from_mine_to_retailer_with_free_gas(anvil_consortium: Consortium) -> None:
    c = anvil_consortium
    lot = c.register_lot(c.miner, quantity=5_000, kind=LotKind.RAW_MATERIAL)
    first = c.handoff(c.miner, c.refinery, lot, 2_000)
    receipt = c.accept(c.refinery, first, lot, c.miner)

    assert receipt["effectiveGasPrice"] == 0
    assert c.w3.eth.get_balance(c.refinery.address) == 0  # nobody needs ether to act
    assert c.balance(c.miner, lot) == 3_000
    assert c.balance(c.refinery, lot) == 2_000
    (accepted,) = c.events(receipt, c.lots, "HandoffAccepted")
    assert accepted == {
        "handoffId": first,
        "lotId": lot,
        "sender": c.miner.address,
        "receiver": c.refinery.address,
        "quantity": 2_000,
    }


def test_a_refused_call_is_decoded_before_anything_is_sent(anvil_consortium: Consortium) -> None:
    c = anvil_consortium
    lot = c.register_lot(c.miner)
    c.act(c.reporter, c.lots.functions.setQuarantine(lot, "humidity above 80 %"))
    head = c.w3.eth.block_number

    with pytest.raises(TransactionReverted) as refused:
        send_transaction(c.w3, c.miner, c.lots.functions.initiateHandoff(lot, c.maker.address, 1))

    assert str(refused.value) == f"LotQuarantined(lotId={lot})"
    assert refused.value.tx_hash is None
    assert c.w3.eth.block_number == head


def test_a_mined_revert_is_recovered_with_its_reason(anvil_consortium: Consortium) -> None:
    c = anvil_consortium
    lot = c.register_lot(c.miner)
    before = c.balances([lot])

    reverted = c.reverts(c.miner, c.lots.functions.initiateHandoff(lot, c.maker.address, 10**9))

    assert reverted.name == "ERC1155InsufficientBalance"
    assert reverted.error is not None
    assert reverted.error.args["needed"] == 10**9
    receipt = c.w3.eth.get_transaction_receipt(reverted.tx_hash)
    assert receipt["status"] == 0
    assert c.balances([lot]) == before


def test_a_pallet_with_a_certificate_policy_reaches_the_retailer(
    anvil_consortium: Consortium,
) -> None:
    c = anvil_consortium
    chips = [c.register_lot(c.maker, quantity=100, kind=LotKind.PRODUCT) for _ in range(3)]
    pallet = c.new_id()
    c.act(c.maker, c.lots.functions.bundle(pallet, chips, [100, 100, 100], H1, H2))
    c.act(c.retailer, c.lots.functions.setAcceptancePolicy(ascii32("QUALITY")))
    handoff = c.handoff(c.maker, c.retailer, pallet, 1)

    missing = c.reverts(
        c.retailer,
        c.lots.functions.acceptHandoff(handoff, pallet, c.maker.address, c.retailer.address),
    )
    assert str(missing).startswith(
        f"MissingValidCertificate(lotId={pallet}, certificateType='QUALITY')"
    )

    now = c.w3.eth.get_block("latest")["timestamp"]
    c.act(
        c.certifier,
        c.certificates.functions.issue(
            SubjectKind.LOT, pallet, ascii32("QUALITY"), H1, now - 10, now + 86_400, [], []
        ),
    )
    c.accept(c.retailer, handoff, pallet, c.maker)
    c.act(c.retailer, c.lots.functions.unbundle(pallet, chips, [100, 100, 100]))
    assert [c.balance(c.retailer, chip) for chip in chips] == [100, 100, 100]
    assert c.balance(c.retailer, pallet) == 0


def test_the_demo_seed_refuses_to_complete_a_half_written_history(
    anvil_consortium: Consortium, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contracts.chain.domain import Role
    from deploy.local import seed as demo

    monkeypatch.setenv("PROVENANT_DATA_DIR", str(tmp_path))
    c = anvil_consortium
    mine = demo.org_key("katanga-cobalt-mine")  # onboarded, then the seed "crashed"
    c.act(c.admin, c.lots.functions.registerParticipant(mine.address, int(Role.MINER), H1))
    head = c.w3.eth.block_number

    with pytest.raises(demo.DemoSeedError, match="half-way"):
        demo.seed(c.w3, c.admin, c.system)
    assert c.w3.eth.block_number == head  # nothing more was written
