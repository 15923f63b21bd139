"""A chain reorganisation under confirmed operations: each one ends confirmed again (its
same signed transaction sent again) or failed with a reason, never doubled and never left
submitted; an answer whose handoff id now names another offer fails instead of accepting
it; health counts operations stuck on their way; a vanished lot's page does not redirect
for ever. Driven by the indexer task and the sweep the workers run."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from web3 import Web3
from web3.exceptions import TransactionNotFound

from contracts.chain.client import build_transaction
from contracts.chain.domain import LotKind
from tests.webapp.network import PASSWORD, Network
from webapp.chain.chain_client import system
from webapp.chain.models import ChainEvent
from webapp.lots.models import LotMetadata
from webapp.lots.services import handoff_accept, handoff_initiate, lot_register
from webapp.operations.models import Operation
from webapp.operations.submitter import SubmitLater, operation_send, operation_track
from webapp.organisations.keys import signing_key
from webapp.organisations.models import Organisation
from webapp.projections.models import HandoffVersion
from workers.tasks import index_chain, sweep_operations

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


def _confirmed(network: Network, operation: Operation) -> Operation:
    network.settle()
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CONFIRMED, operation.error
    return operation


def _three_confirmed_operations(network: Network) -> tuple[int, list[Operation]]:
    """A lot of the mine's, then in the last three blocks: a handoff of it to the refinery,
    the refinery's accept, and a second registration."""
    mine, refinery = network.orgs["mine"], network.orgs["refinery"]
    lot = _confirmed(network, lot_register(organisation=mine, name="Ore", quantity=100, unit="kg"))
    lot_id = int(lot.lot_id or 0)
    initiate = _confirmed(
        network, handoff_initiate(organisation=mine, lot_id=lot_id, receiver=refinery, quantity=40)
    )
    handoff_id = int(
        HandoffVersion.objects.get(lot_id=lot_id, block_to__isnull=True, status="open").handoff_id
    )
    accept = _confirmed(network, handoff_accept(organisation=refinery, handoff_id=handoff_id))
    second = _confirmed(
        network, lot_register(organisation=mine, name="Ore 2", quantity=7, unit="kg")
    )
    operations = [initiate, accept, second]
    head = network.w3.eth.block_number
    assert sorted(o.confirmed_block for o in operations) == [head - 2, head - 1, head]
    return lot_id, operations


def _drive(network: Network, operations: list[Operation], *, seconds: float = 90) -> None:
    """What the workers do, over and over: index the chain, sweep the operations."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        index_chain()
        sweep_operations(stale_after_seconds=0)
        index_chain()
        for operation in operations:
            operation.refresh_from_db()
        if all(o.is_final for o in operations):
            return
        time.sleep(0.2)
    pytest.fail(f"still in flight: {[(o.action, o.status, o.waiting_reason) for o in operations]}")


def _reorg(network: Network, depth: int, replacements: list[str]) -> None:
    w3 = network.w3
    old_head = w3.eth.get_block("latest")["hash"]
    response = w3.provider.make_request(  # type: ignore[arg-type]
        "anvil_reorg", [depth, [[raw, 0] for raw in replacements]]
    )
    assert "error" not in response, response
    assert w3.eth.get_block("latest")["hash"] != old_head


def test_a_reorg_under_confirmed_operations_sends_the_same_transactions_again(
    network: Network, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.operations import services

    _, operations = _three_confirmed_operations(network)
    hashes = [o.transaction_hash for o in operations]
    w3 = network.w3
    _reorg(network, 3, [])
    for tx_hash in hashes:
        with pytest.raises(TransactionNotFound):  # gone with their blocks
            w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]

    sent: list[tuple[str, ...]] = []
    monkeypatch.setattr(services, "task_send_on_commit", lambda *task: sent.append(task))
    settings.OPERATIONS_DISPATCH = True
    index_chain()  # the indexer sees the reorg: confirmed becomes submitted, no stale block
    settings.OPERATIONS_DISPATCH = False
    # each is followed at once, not when the sweeper finds it stale
    assert sorted(sent) == sorted(("workers.tasks.track_operation", str(o.id)) for o in operations)
    for operation in operations:
        operation.refresh_from_db()
        assert operation.status == Operation.Status.SUBMITTED
        assert operation.mined_block is None
        assert operation.confirmed_block is None

    _drive(network, operations)
    for operation, tx_hash in zip(operations, hashes, strict=True):
        assert operation.status == Operation.Status.CONFIRMED, operation.error
        assert operation.transaction_hash == tx_hash  # the same signed bytes, not a new fact
        receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        assert operation.mined_block == operation.confirmed_block == receipt["blockNumber"]
    assert ChainEvent.objects.filter(event="HandoffInitiated").count() == 1
    assert ChainEvent.objects.filter(event="HandoffAccepted").count() == 1


def test_a_reorg_that_gives_a_handoff_id_to_another_offer_fails_the_answer_with_a_reason(
    network: Network,
) -> None:
    """On the new chain the mine's nonce went to a different offer (25 instead of 40) that
    took the vanished handoff's id. The refinery's accept must not take the new offer; the
    mine's own offer is signed afresh (its nonce is provably taken, its hash is not on
    chain); the second registration goes out again with its own bytes."""
    mine, refinery = network.orgs["mine"], network.orgs["refinery"]
    lot_id, operations = _three_confirmed_operations(network)
    initiate, accept, second = operations
    handoff_id = int(accept.expects["handoff"]["id"])
    w3, contracts = system()
    other_offer = contracts.all["Lots"].functions.initiateHandoff(lot_id, refinery.address, 25)
    tx = build_transaction(
        w3, Web3.to_checksum_address(mine.address), other_offer, nonce=initiate.nonce, gas=500_000
    )
    raw = "0x" + signing_key(mine, mine.address).sign_transaction(tx).hex()
    _reorg(network, 3, [raw])

    _drive(network, operations)
    accept.refresh_from_db()
    assert accept.status == Operation.Status.FAILED
    assert f"handoff {handoff_id} now names a different offer" in accept.error
    assert initiate.status == Operation.Status.CONFIRMED, initiate.error
    assert initiate.nonce != tx["nonce"]  # signed afresh with a free nonce
    assert second.status == Operation.Status.CONFIRMED, second.error
    # Exactly one offer of 40 (the mine's, once) and the other of 25; nothing accepted.
    offers = sorted(
        int(e.args["quantity"]) for e in ChainEvent.objects.filter(event="HandoffInitiated")
    )
    assert offers == [25, 40]
    assert not ChainEvent.objects.filter(event="HandoffAccepted").exists()
    escrow = contracts.all["Lots"].functions.handoffEscrow(
        handoff_id, mine.address, refinery.address
    )
    balance = contracts.all["Lots"].functions.balanceOf(escrow.call(), lot_id).call()
    assert balance == 25  # the other offer is still open for the refinery to decide on

    client = Client()
    response = client.get("/health/indexer")
    assert response.json()["operations_stuck"] == 0


def test_health_and_metrics_count_operations_stuck_on_their_way(
    network: Network, settings: Any
) -> None:
    index_chain()
    client = Client()
    assert client.get("/health/indexer").json()["status"] == "ok"
    operation = lot_register(organisation=network.orgs["mine"], name="Ore", quantity=5, unit="kg")
    assert client.get("/health/indexer").status_code == 200  # young: not stuck yet
    Operation.objects.filter(pk=operation.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.OPERATION_STUCK_SECONDS + 1)
    )
    response = client.get("/health/indexer")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["operations_stuck"] == 1
    chain_id = network.manifest.chain_id
    assert body["operations_stuck_by_status"][str(chain_id)]["queued"] == 1
    metrics = client.get("/metrics").content.decode()
    assert f'provenant_operations_stuck{{chain_id="{chain_id}",status="queued"}} 1' in metrics

    network.settle()
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CONFIRMED
    assert client.get("/health/indexer").json()["status"] == "ok"


def test_the_page_of_a_lot_that_left_the_chain_does_not_redirect_for_ever(
    network: Network,
) -> None:
    """A reorganisation replaces the block of the mine's second registration with one in
    which the consortium operator suspended the mine. The registration goes out again
    (its nonce is still free), reverts, and fails with that reason: the lot is gone for
    good. Its page leads to the operation while that is on its way, then is a 404."""
    mine = network.orgs["mine"]
    _, operations = _three_confirmed_operations(network)
    second = operations[-1]
    lot_id = int(second.lot_id or 0)
    client = Client()
    assert client.login(username="mine", password=PASSWORD)
    assert client.get(f"/lots/{lot_id}").status_code == 200

    operator = Organisation.objects.get(is_operator=True)
    w3, contracts = system()
    suspension = contracts.all["Lots"].functions.suspendParticipant(
        Web3.to_checksum_address(mine.address), "licence withdrawn"
    )
    tx = build_transaction(w3, Web3.to_checksum_address(operator.address), suspension, gas=500_000)
    raw = "0x" + signing_key(operator, operator.address).sign_transaction(tx).hex()
    _reorg(network, 1, [raw])

    index_chain()  # the registration's block left the chain: it is on its way again
    second.refresh_from_db()
    assert second.status == Operation.Status.SUBMITTED
    in_flight = client.get(f"/lots/{lot_id}")
    assert in_flight.status_code == 302
    assert str(second.pk) in in_flight["Location"]

    _drive(network, operations)
    assert second.status == Operation.Status.FAILED
    assert "SuspendedParticipant" in second.error or "suspended" in second.error.lower()
    assert [o.status for o in operations[:2]] == [Operation.Status.CONFIRMED] * 2
    assert client.get(f"/lots/{lot_id}").status_code == 404
    page = client.get(f"/operations/{second.pk}")
    assert page.status_code == 200
    assert b"failed" in page.content


def _register_directly(network: Network, org_name: str, lot_id: int) -> str:
    """A registration another organisation sends straight to the node (not through us)."""
    org = network.orgs[org_name]
    w3, contracts = system()
    call = contracts.all["Lots"].functions.registerLot(
        lot_id, 5, int(LotKind.RAW_MATERIAL), "0x" + "11" * 32, "0x" + "00" * 32
    )
    tx = build_transaction(w3, Web3.to_checksum_address(org.address), call, gas=400_000)
    raw = "0x" + signing_key(org, org.address).sign_transaction(tx).hex()
    return w3.eth.send_raw_transaction(raw).to_0x_hex()


def _set_mining(w3: Web3, *, auto: bool) -> None:
    w3.provider.make_request("evm_setAutomine", [auto])  # type: ignore[arg-type]
    if not auto:
        w3.provider.make_request("anvil_setIntervalMining", [0])  # type: ignore[arg-type]


def test_a_reverted_operation_whose_block_left_the_chain_ends_confirmed_when_it_succeeds(
    network: Network,
) -> None:
    """The mine's registration reverted because the refinery's registration of the same id
    was mined first in the same block. A reorganisation replaces that block with one that
    holds only the mine's transaction (the same signed bytes), which now succeeds: the
    operation is looked at again and ends confirmed, saying that what it had recorded off
    chain was discarded when it failed."""
    mine = network.orgs["mine"]
    w3 = network.w3
    index_chain()
    operation = lot_register(organisation=mine, name="Ore", quantity=100, unit="kg")
    lot_id = int(operation.lot_id or 0)
    _set_mining(w3, auto=False)
    _register_directly(network, "refinery", lot_id)
    operation_send(operation_id=operation.pk)
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    operation_track(operation_id=operation.pk)
    operation.refresh_from_db()
    assert operation.status == Operation.Status.FAILED
    assert "LotAlreadyExists" in operation.error or "already exists" in operation.error
    tx_hash = operation.transaction_hash
    assert w3.eth.get_transaction_receipt(tx_hash)["status"] == 0  # type: ignore[arg-type]
    index_chain()
    assert not LotMetadata.objects.filter(lot_id=lot_id, document__registered_by="mine").exists()

    _set_mining(w3, auto=True)
    _reorg(network, 1, [operation.raw_transaction])
    assert w3.eth.get_transaction_receipt(tx_hash)["status"] == 1  # type: ignore[arg-type]

    _drive(network, [operation])
    assert operation.status == Operation.Status.CONFIRMED, operation.error
    assert operation.transaction_hash == tx_hash
    receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    assert operation.mined_block == operation.confirmed_block == receipt["blockNumber"]
    assert "discarded" in operation.error  # the missing off-chain records are named
    (registered,) = [
        e
        for e in ChainEvent.objects.filter(event="LotRegistered")
        if int(e.args["lotId"]) == lot_id
    ]
    assert registered.transaction_hash == tx_hash
    client = Client()
    assert client.login(username="mine", password=PASSWORD)
    page = client.get(f"/operations/{operation.pk}")
    assert page.status_code == 200
    assert b"discarded" in page.content
    assert client.get(f"/lots/{lot_id}").status_code == 200  # the mine's lot, on chain


def test_a_refusal_while_the_mirror_is_behind_a_reorg_waits_instead_of_failing(
    network: Network,
) -> None:
    """A handoff signed after a reorganisation took its lot's registration off the chain,
    before the mirror has seen that: the chain refuses it (UnknownLot), but the
    registration it needs still reads confirmed. It waits, and once the mirror has caught
    up and the registration is on chain again, it goes through."""
    mine, refinery = network.orgs["mine"], network.orgs["refinery"]
    register = _confirmed(
        network, lot_register(organisation=mine, name="Ore", quantity=100, unit="kg")
    )
    lot_id = int(register.lot_id or 0)
    handoff = handoff_initiate(organisation=mine, lot_id=lot_id, receiver=refinery, quantity=40)
    assert handoff.status == Operation.Status.QUEUED
    _reorg(network, 1, [])  # the registration's block leaves the chain
    register.refresh_from_db()
    assert register.status == Operation.Status.CONFIRMED  # the mirror has not seen it yet

    with pytest.raises(SubmitLater):
        operation_send(operation_id=handoff.id)
    handoff.refresh_from_db()
    assert handoff.status == Operation.Status.QUEUED
    assert handoff.waiting_reason == "waiting for this organisation's earlier operations"

    _drive(network, [register, handoff])
    assert register.status == handoff.status == Operation.Status.CONFIRMED, handoff.error
    assert ChainEvent.objects.filter(event="HandoffInitiated").count() == 1
