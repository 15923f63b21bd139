"""Lots and handoffs: registration, the escrowed two-sided handoff, every guard and the
acceptance policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from contracts.chain.client import LocalSigner
from contracts.chain.domain import LotKind, Role, SubjectKind, ascii32
from tests.contracts.consortium import H1, H2, Consortium

pytestmark = pytest.mark.chain


ZERO_ADDRESS = "0x" + "00" * 20
CUSTODIANS = int(Role.MINER | Role.MANUFACTURER | Role.DISTRIBUTOR | Role.RETAILER)
QUALITY = ascii32("QUALITY")
DOC = b"\x0d" * 32


# ----------------------------------------------------------------------------- helpers


def escrow_of(c: Consortium, handoff_id: int, sender: Any, receiver: Any) -> str:
    return str(c.lots.functions.handoffEscrow(handoff_id, sender.address, receiver.address).call())


def next_escrow(c: Consortium, sender: Any, receiver: Any) -> str:
    """The escrow the next handoff from `sender` to `receiver` would use."""
    handoffs, _ = c.lots.functions.counts().call()
    return escrow_of(c, handoffs + 1, sender, receiver)


def state(c: Consortium, lot_ids: list[int], escrows: list[str]) -> dict[Any, Any]:
    return c.snapshot(lot_ids, escrows)


def open_handoff(
    c: Consortium, sender: Any, receiver: Any, quantity: int = 400, held: int = 1000
) -> tuple[int, int, str]:
    """A lot registered by `sender` (a producer) and a handoff of part of it to `receiver`."""
    lot_id = c.register_lot(sender, quantity=held)
    handoff_id = c.handoff(sender, receiver, lot_id, quantity)
    return lot_id, handoff_id, escrow_of(c, handoff_id, sender, receiver)


def accept_call(c: Consortium, handoff_id: int, lot_id: int, sender: Any, receiver: Any) -> Any:
    return c.lots.functions.acceptHandoff(handoff_id, lot_id, sender.address, receiver.address)


def reject_call(c: Consortium, handoff_id: int, lot_id: int, sender: Any, receiver: Any) -> Any:
    return c.lots.functions.rejectHandoff(
        handoff_id, lot_id, sender.address, receiver.address, "damaged"
    )


def cancel_call(c: Consortium, handoff_id: int, lot_id: int, sender: Any, receiver: Any) -> Any:
    return c.lots.functions.cancelHandoff(handoff_id, lot_id, sender.address, receiver.address)


def issue_quality(
    c: Consortium,
    lot_id: int,
    valid_from: int,
    valid_until: int,
    kind: bytes = QUALITY,
    issuer: LocalSigner | None = None,
) -> int:
    receipt = c.act(
        issuer or c.certifier,
        c.certificates.functions.issue(
            int(SubjectKind.LOT), lot_id, kind, DOC, valid_from, valid_until, [], []
        ),
    )
    (event,) = c.events(receipt, c.certificates, "CertificateIssued")
    return int(event["certificateId"])


def now(c: Consortium) -> int:
    return int(c.w3.eth.get_block("latest")["timestamp"])


# ------------------------------------------------------------------------- registration


def test_manufacturer_registers_a_lot(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.new_id()

    receipt = c.act(
        c.maker, c.lots.functions.registerLot(lot_id, 250, int(LotKind.COMPONENT), H1, H2)
    )

    (registered,) = c.events(receipt, c.lots, "LotRegistered")
    assert registered == {
        "lotId": lot_id,
        "owner": c.maker.address,
        "kind": int(LotKind.COMPONENT),
        "quantity": 250,
        "metadataHash": H1,
        "gs1KeyHash": H2,
    }
    (minted,) = c.events(receipt, c.lots, "TransferSingle")
    assert minted == {
        "operator": c.maker.address,
        "from": ZERO_ADDRESS,
        "to": c.maker.address,
        "id": lot_id,
        "value": 250,
    }
    assert c.balance(c.maker, lot_id) == 250
    assert c.lots.functions.lot(lot_id).call() == [int(LotKind.COMPONENT), False, ZERO_ADDRESS, 250]
    assert c.lots.functions.lotExists(lot_id).call() is True


@pytest.mark.parametrize("kind", [LotKind.RAW_MATERIAL, LotKind.COMPONENT, LotKind.PRODUCT])
def test_a_miner_registers_any_material_kind(consortium: Consortium, kind: LotKind) -> None:
    c = consortium

    lot_id = c.register_lot(c.miner, quantity=9, kind=int(kind))

    assert c.balance(c.miner, lot_id) == 9
    assert c.lots.functions.lot(lot_id).call()[0] == int(kind)


def test_lot_id_zero_is_refused(consortium: Consortium) -> None:
    c = consortium
    before = state(c, [0], [])

    err = c.reverts(c.miner, c.lots.functions.registerLot(0, 10, 1, H1, H2))

    assert err.name == "InvalidLotId"
    assert state(c, [0], []) == before
    assert c.lots.functions.lotExists(0).call() is False


def test_zero_quantity_lot_is_refused(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.new_id()

    before = state(c, [lot_id], [])

    err = c.reverts(c.miner, c.lots.functions.registerLot(lot_id, 0, 1, H1, H2))

    assert err.name == "ZeroQuantity"
    assert c.lots.functions.lotExists(lot_id).call() is False
    assert state(c, [lot_id], []) == before


def test_a_quantity_beyond_uint240_is_refused(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.new_id()
    before = state(c, [lot_id], [])

    err = c.reverts(c.miner, c.lots.functions.registerLot(lot_id, 2**240, 1, H1, H2))

    assert err.name == "QuantityTooLarge"
    assert err.error.args == {"quantity": 2**240}
    assert c.lots.functions.lotExists(lot_id).call() is False
    assert state(c, [lot_id], []) == before
    c.register_lot(c.miner, quantity=2**240 - 1, lot_id=lot_id)
    assert c.lots.functions.lot(lot_id).call()[3] == 2**240 - 1


def test_a_lot_id_cannot_be_registered_twice(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, quantity=100)
    before = state(c, [lot_id], [])

    err = c.reverts(c.maker, c.lots.functions.registerLot(lot_id, 5, 2, H2, H1))

    assert err.name == "LotAlreadyExists"
    assert err.error.args == {"lotId": lot_id}
    assert state(c, [lot_id], []) == before
    assert c.lots.functions.lot(lot_id).call() == [
        int(LotKind.RAW_MATERIAL),
        False,
        ZERO_ADDRESS,
        100,
    ]


@pytest.mark.parametrize("kind", [LotKind.BUNDLE, LotKind.NONE])
def test_bundle_or_none_kind_cannot_be_registered(consortium: Consortium, kind: LotKind) -> None:
    c = consortium
    lot_id = c.new_id()
    before = state(c, [lot_id], [])

    err = c.reverts(c.miner, c.lots.functions.registerLot(lot_id, 1, int(kind), H1, H2))

    assert err.name == "InvalidLotKind"
    assert err.error.args == {"kind": int(kind)}
    assert c.lots.functions.lotExists(lot_id).call() is False
    assert state(c, [lot_id], []) == before


# ------------------------------------------------------------------------ the handoff


def test_initiate_moves_the_quantity_into_the_escrow(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, quantity=1000)

    receipt = c.act(c.miner, c.lots.functions.initiateHandoff(lot_id, c.refinery.address, 1000))

    (event,) = c.events(receipt, c.lots, "HandoffInitiated")
    escrow = escrow_of(c, 1, c.miner, c.refinery)
    assert event == {
        "handoffId": 1,
        "lotId": lot_id,
        "sender": c.miner.address,
        "receiver": c.refinery.address,
        "quantity": 1000,
        "escrow": escrow,
    }
    (moved,) = c.events(receipt, c.lots, "TransferSingle")
    assert moved["from"] == c.miner.address
    assert moved["to"] == escrow
    assert moved["value"] == 1000
    assert c.balance(escrow, lot_id) == 1000
    assert c.balance(c.miner, lot_id) == 0
    assert c.balance(c.refinery, lot_id) == 0
    assert c.lots.functions.counts().call() == [1, 0]


def test_handoff_ids_increase_one_by_one(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, quantity=1000)

    ids = [
        c.handoff(c.miner, c.refinery, lot_id, 10),
        c.handoff(c.miner, c.maker, lot_id, 20),
        c.handoff(c.miner, c.refinery, lot_id, 30),
    ]

    assert ids == [1, 2, 3]
    escrows = [escrow_of(c, 1, c.miner, c.refinery), escrow_of(c, 2, c.miner, c.maker)]
    escrows.append(escrow_of(c, 3, c.miner, c.refinery))
    assert len(set(escrows)) == 3
    assert [c.balance(e, lot_id) for e in escrows] == [10, 20, 30]
    assert c.balance(c.miner, lot_id) == 940


def test_a_partial_quantity_can_be_handed_off(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.refinery, quantity=300)

    assert c.balance(c.miner, lot_id) == 700
    assert c.balance(escrow, lot_id) == 300

    c.accept(c.refinery, handoff_id, lot_id, c.miner)

    assert c.balance(c.miner, lot_id) == 700
    assert c.balance(c.refinery, lot_id) == 300
    assert c.balance(escrow, lot_id) == 0
    # The receiver now holds custody and passes part of it on.
    second = c.handoff(c.refinery, c.distributor, lot_id, 120)
    c.accept(c.distributor, second, lot_id, c.refinery)
    assert c.balance(c.refinery, lot_id) == 180
    assert c.balance(c.distributor, lot_id) == 120


def test_receiver_accepts_a_handoff(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.refinery, quantity=400)

    receipt = c.accept(c.refinery, handoff_id, lot_id, c.miner)

    (event,) = c.events(receipt, c.lots, "HandoffAccepted")
    assert event == {
        "handoffId": handoff_id,
        "lotId": lot_id,
        "sender": c.miner.address,
        "receiver": c.refinery.address,
        "quantity": 400,
    }
    (moved,) = c.events(receipt, c.lots, "TransferSingle")
    assert (moved["from"], moved["to"], moved["value"]) == (escrow, c.refinery.address, 400)
    assert c.balance(c.refinery, lot_id) == 400
    assert c.balance(c.miner, lot_id) == 600
    assert c.balance(escrow, lot_id) == 0


def test_receiver_can_reject_a_handoff(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.refinery, quantity=400)

    receipt = c.act(c.refinery, reject_call(c, handoff_id, lot_id, c.miner, c.refinery))

    (event,) = c.events(receipt, c.lots, "HandoffRejected")
    assert event == {
        "handoffId": handoff_id,
        "lotId": lot_id,
        "sender": c.miner.address,
        "receiver": c.refinery.address,
        "quantity": 400,
        "reason": "damaged",
    }
    assert c.balance(c.miner, lot_id) == 1000
    assert c.balance(c.refinery, lot_id) == 0
    assert c.balance(escrow, lot_id) == 0


def test_sender_can_cancel_a_handoff(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.refinery, quantity=400)

    receipt = c.act(c.miner, cancel_call(c, handoff_id, lot_id, c.miner, c.refinery))

    (event,) = c.events(receipt, c.lots, "HandoffCancelled")
    assert event == {
        "handoffId": handoff_id,
        "lotId": lot_id,
        "sender": c.miner.address,
        "receiver": c.refinery.address,
        "quantity": 400,
    }
    assert c.balance(c.miner, lot_id) == 1000
    assert c.balance(c.refinery, lot_id) == 0
    assert c.balance(escrow, lot_id) == 0


def test_two_open_handoffs_of_one_lot_are_settled_independently(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, quantity=1000)
    first = c.handoff(c.miner, c.refinery, lot_id, 100)
    second = c.handoff(c.miner, c.refinery, lot_id, 200)

    c.accept(c.refinery, second, lot_id, c.miner)
    c.act(c.refinery, reject_call(c, first, lot_id, c.miner, c.refinery))

    assert c.balance(c.refinery, lot_id) == 200
    assert c.balance(c.miner, lot_id) == 800
    assert c.balance(escrow_of(c, first, c.miner, c.refinery), lot_id) == 0
    assert c.balance(escrow_of(c, second, c.miner, c.refinery), lot_id) == 0


# --------------------------------------------------------------- guards on settlement


def test_a_non_receiver_cannot_accept(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.refinery)
    before = state(c, [lot_id], [escrow])

    err = c.reverts(c.distributor, accept_call(c, handoff_id, lot_id, c.miner, c.refinery))

    assert err.name == "NotHandoffReceiver"
    assert err.error.args == {"handoffId": handoff_id, "caller": c.distributor.address}
    assert state(c, [lot_id], [escrow]) == before


def test_a_non_receiver_naming_itself_finds_no_open_handoff(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.refinery)
    before = state(c, [lot_id], [escrow])

    err = c.reverts(c.distributor, accept_call(c, handoff_id, lot_id, c.miner, c.distributor))

    assert err.name == "HandoffNotOpen"
    assert err.error.args == {"handoffId": handoff_id}
    assert state(c, [lot_id], [escrow]) == before


def test_a_non_receiver_cannot_reject(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.refinery)
    before = state(c, [lot_id], [escrow])

    err = c.reverts(c.miner, reject_call(c, handoff_id, lot_id, c.miner, c.refinery))

    assert err.name == "NotHandoffReceiver"
    assert err.error.args == {"handoffId": handoff_id, "caller": c.miner.address}
    assert state(c, [lot_id], [escrow]) == before


def test_the_receiver_cannot_cancel(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.refinery)
    before = state(c, [lot_id], [escrow])

    err = c.reverts(c.refinery, cancel_call(c, handoff_id, lot_id, c.miner, c.refinery))

    assert err.name == "NotHandoffSender"
    assert err.error.args == {"handoffId": handoff_id, "caller": c.refinery.address}
    assert state(c, [lot_id], [escrow]) == before


def test_accepting_with_the_wrong_lot_finds_no_open_handoff(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.refinery)
    other = c.register_lot(c.miner, quantity=50)
    before = state(c, [lot_id, other], [escrow])

    err = c.reverts(c.refinery, accept_call(c, handoff_id, other, c.miner, c.refinery))

    assert err.name == "HandoffNotOpen"
    assert err.error.args == {"handoffId": handoff_id}
    assert state(c, [lot_id, other], [escrow]) == before


def test_the_batched_balance_snapshot_agrees_with_balance_of(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.refinery, quantity=400)
    other = c.register_lot(c.maker, quantity=9)

    snapshot = state(c, [lot_id, other], [escrow])

    for (account, lot), value in c.balances([lot_id, other], [escrow]).items():
        assert snapshot[(account, lot)] == value == c.balance(account, lot)
    assert snapshot[(escrow, lot_id)] == 400
    assert snapshot["counts"][0] == handoff_id == 1


def test_a_never_initiated_handoff_is_not_open(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    escrow = escrow_of(c, 77, c.miner, c.refinery)
    before = state(c, [lot_id], [escrow])

    err = c.reverts(c.refinery, accept_call(c, 77, lot_id, c.miner, c.refinery))

    assert err.name == "HandoffNotOpen"
    assert err.error.args == {"handoffId": 77}
    assert state(c, [lot_id], [escrow]) == before


@pytest.mark.parametrize(
    ("settle", "then"),
    [
        ("accept", "accept"),
        ("cancel", "accept"),
        ("reject", "accept"),
        ("accept", "reject"),
        ("accept", "cancel"),
        ("reject", "cancel"),
        ("cancel", "reject"),
    ],
)
def test_a_settled_handoff_is_no_longer_open(
    consortium: Consortium, settle: str, then: str
) -> None:
    c = consortium
    calls = {"accept": accept_call, "reject": reject_call, "cancel": cancel_call}
    callers = {"accept": c.refinery, "reject": c.refinery, "cancel": c.miner}
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.refinery)
    c.act(callers[settle], calls[settle](c, handoff_id, lot_id, c.miner, c.refinery))
    before = state(c, [lot_id], [escrow])
    assert before[(escrow, lot_id)] == 0

    err = c.reverts(callers[then], calls[then](c, handoff_id, lot_id, c.miner, c.refinery))

    assert err.name == "HandoffNotOpen"
    assert err.error.args == {"handoffId": handoff_id}
    assert state(c, [lot_id], [escrow]) == before


def test_a_suspended_receiver_cannot_accept(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.refinery)
    c.act(c.admin, c.lots.functions.suspendParticipant(c.refinery.address, "audit"))
    before = state(c, [lot_id], [escrow])

    err = c.reverts(c.refinery, accept_call(c, handoff_id, lot_id, c.miner, c.refinery))

    assert err.name == "SuspendedParticipant"
    assert err.error.args == {"account": c.refinery.address}
    assert state(c, [lot_id], [escrow]) == before

    # The sender can still withdraw the offer.
    c.act(c.miner, cancel_call(c, handoff_id, lot_id, c.miner, c.refinery))
    assert c.balance(c.miner, lot_id) == 1000
    assert c.balance(escrow, lot_id) == 0


def test_a_reactivated_receiver_can_accept(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.refinery)
    c.act(c.admin, c.lots.functions.suspendParticipant(c.refinery.address, "audit"))
    c.act(c.admin, c.lots.functions.reactivateParticipant(c.refinery.address))

    c.accept(c.refinery, handoff_id, lot_id, c.miner)

    assert c.balance(c.refinery, lot_id) == 400
    assert c.balance(escrow, lot_id) == 0


def test_a_suspended_sender_cannot_cancel(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.refinery)
    c.act(c.admin, c.lots.functions.suspendParticipant(c.miner.address, "audit"))
    before = state(c, [lot_id], [escrow])

    err = c.reverts(c.miner, cancel_call(c, handoff_id, lot_id, c.miner, c.refinery))

    assert err.name == "SuspendedParticipant"
    assert err.error.args == {"account": c.miner.address}
    assert state(c, [lot_id], [escrow]) == before


# ----------------------------------------------------------------- guards on initiation


def _initiate_refused(
    c: Consortium, sender: Any, receiver: Any, lot_id: int, quantity: int
) -> tuple[Any, dict[Any, int]]:
    """Initiate a handoff that must revert; returns the error and the state before it."""
    lots = [lot_id]
    escrows = [next_escrow(c, sender, receiver)]
    before = state(c, lots, escrows)
    err = c.reverts(sender, c.lots.functions.initiateHandoff(lot_id, receiver.address, quantity))
    assert state(c, lots, escrows) == before
    return err, before


def test_a_quantity_above_the_balance_is_refused(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, quantity=1000)

    err, _ = _initiate_refused(c, c.miner, c.refinery, lot_id, 1001)

    assert err.name == "ERC1155InsufficientBalance"
    assert err.error.args == {
        "sender": c.miner.address,
        "balance": 1000,
        "needed": 1001,
        "tokenId": lot_id,
    }


def test_a_custodian_cannot_hand_off_a_lot_it_does_not_hold(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, quantity=1000)

    err, _ = _initiate_refused(c, c.distributor, c.retailer, lot_id, 1)

    assert err.name == "ERC1155InsufficientBalance"
    assert err.error.args == {
        "sender": c.distributor.address,
        "balance": 0,
        "needed": 1,
        "tokenId": lot_id,
    }


def test_the_escrowed_quantity_cannot_be_handed_off_again(consortium: Consortium) -> None:
    c = consortium
    lot_id, _, escrow = open_handoff(c, c.miner, c.refinery, quantity=900)
    before_escrow = c.balance(escrow, lot_id)

    err, _ = _initiate_refused(c, c.miner, c.maker, lot_id, 101)

    assert err.name == "ERC1155InsufficientBalance"
    assert err.error.args["balance"] == 100
    assert c.balance(escrow, lot_id) == before_escrow == 900


def test_a_self_handoff_is_refused(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)

    err, _ = _initiate_refused(c, c.miner, c.miner, lot_id, 10)

    assert err.name == "SelfHandoff"


def test_a_zero_quantity_handoff_is_refused(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)

    err, _ = _initiate_refused(c, c.miner, c.refinery, lot_id, 0)

    assert err.name == "ZeroQuantity"


def test_an_unknown_lot_cannot_be_handed_off(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.new_id()

    err, _ = _initiate_refused(c, c.miner, c.refinery, lot_id, 1)

    assert err.name == "UnknownLot"
    assert err.error.args == {"lotId": lot_id}


def test_the_receiver_must_be_registered(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)

    err, _ = _initiate_refused(c, c.miner, c.stranger, lot_id, 10)

    assert err.name == "UnknownParticipant"
    assert err.error.args == {"account": c.stranger.address}


def test_the_receiver_must_be_active(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    c.act(c.admin, c.lots.functions.suspendParticipant(c.refinery.address, "audit"))

    err, _ = _initiate_refused(c, c.miner, c.refinery, lot_id, 10)

    assert err.name == "SuspendedParticipant"
    assert err.error.args == {"account": c.refinery.address}


@pytest.mark.parametrize("receiver", ["certifier", "reporter", "auditor"])
def test_the_receiver_must_be_a_custodian(consortium: Consortium, receiver: str) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    who = c.members[receiver]

    err, _ = _initiate_refused(c, c.miner, who, lot_id, 10)

    assert err.name == "MissingRole"
    assert err.error.args == {"account": who.address, "anyOfRoles": CUSTODIANS}


def test_the_sender_must_be_a_registered_custodian(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)

    err, _ = _initiate_refused(c, c.stranger, c.refinery, lot_id, 10)
    assert err.name == "UnknownParticipant"
    assert err.error.args == {"account": c.stranger.address}

    err, _ = _initiate_refused(c, c.certifier, c.refinery, lot_id, 10)
    assert err.name == "MissingRole"
    assert err.error.args == {"account": c.certifier.address, "anyOfRoles": CUSTODIANS}


def test_a_quarantined_lot_cannot_be_handed_off(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    c.act(c.reporter, c.lots.functions.setQuarantine(lot_id, "temperature excursion"))

    err, _ = _initiate_refused(c, c.miner, c.refinery, lot_id, 10)

    assert err.name == "LotQuarantined"
    assert err.error.args == {"lotId": lot_id}


# ------------------------------------------------------------------- acceptance policy


def _policy_handoff(c: Consortium) -> tuple[int, int, str]:
    """The refinery requires QUALITY; the miner offers it 400 of a new lot."""
    receipt = c.act(c.refinery, c.lots.functions.setAcceptancePolicy(QUALITY))
    (event,) = c.events(receipt, c.lots, "AcceptancePolicySet")
    assert event == {"account": c.refinery.address, "certificateType": QUALITY}
    assert c.lots.functions.acceptancePolicy(c.refinery.address).call() == QUALITY
    return open_handoff(c, c.miner, c.refinery, quantity=400)


def _accept_refused_for_certificate(
    c: Consortium, lot_id: int, handoff_id: int, escrow: str
) -> None:
    before = state(c, [lot_id], [escrow])
    err = c.reverts(c.refinery, accept_call(c, handoff_id, lot_id, c.miner, c.refinery))
    assert err.name == "MissingValidCertificate"
    assert err.error.args == {"lotId": lot_id, "certificateType": QUALITY}
    assert state(c, [lot_id], [escrow]) == before
    assert before[(escrow, lot_id)] == 400


def test_acceptance_policy_requires_a_certificate(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = _policy_handoff(c)

    _accept_refused_for_certificate(c, lot_id, handoff_id, escrow)


def test_acceptance_policy_is_met_by_a_valid_certificate(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = _policy_handoff(c)
    _accept_refused_for_certificate(c, lot_id, handoff_id, escrow)
    t = now(c)

    issue_quality(c, lot_id, t - 60, t + 86400)
    c.accept(c.refinery, handoff_id, lot_id, c.miner)

    assert c.balance(c.refinery, lot_id) == 400
    assert c.balance(escrow, lot_id) == 0


def _revoked(c: Consortium, lot_id: int) -> None:
    t = now(c)
    cert_id = issue_quality(c, lot_id, t - 60, t + 86400)
    c.act(c.certifier, c.certificates.functions.revoke(cert_id, "lab error"))


def _expired(c: Consortium, lot_id: int) -> None:
    t = now(c)
    issue_quality(c, lot_id, t - 3600, t - 1)


def _not_yet_valid(c: Consortium, lot_id: int) -> None:
    t = now(c)
    issue_quality(c, lot_id, t + 86400, t + 2 * 86400)


def _of_another_type(c: Consortium, lot_id: int) -> None:
    t = now(c)
    issue_quality(c, lot_id, t - 60, t + 86400, kind=ascii32("CARBON"))


def _of_another_lot(c: Consortium, lot_id: int) -> None:
    other = c.register_lot(c.miner, quantity=5)
    t = now(c)
    issue_quality(c, other, t - 60, t + 86400)


UNFIT_CERTIFICATES = {
    "revoked": _revoked,
    "expired": _expired,
    "not yet valid": _not_yet_valid,
    "of another type": _of_another_type,
    "of another lot": _of_another_lot,
}


@pytest.mark.parametrize("certify", UNFIT_CERTIFICATES.values(), ids=UNFIT_CERTIFICATES.keys())
def test_acceptance_policy_refuses_an_unfit_certificate(
    consortium: Consortium, certify: Callable[[Consortium, int], None]
) -> None:
    c = consortium
    lot_id, handoff_id, escrow = _policy_handoff(c)
    certify(c, lot_id)

    _accept_refused_for_certificate(c, lot_id, handoff_id, escrow)


def _rival_certifier(c: Consortium) -> LocalSigner:
    """Onboards the stranger as a second certifier (undone by the fixture's snapshot)."""
    c.act(
        c.admin, c.lots.functions.registerParticipant(c.stranger.address, int(Role.CERTIFIER), H1)
    )
    return c.stranger


@pytest.mark.parametrize("later", ["expired", "future-dated"])
@pytest.mark.parametrize("by", ["same certifier", "rival certifier"])
def test_a_later_invalid_certificate_does_not_hide_a_valid_one(
    consortium: Consortium, later: str, by: str
) -> None:
    c = consortium
    lot_id, handoff_id, escrow = _policy_handoff(c)
    t = now(c)
    issue_quality(c, lot_id, t - 60, t + 86400)
    issuer = _rival_certifier(c) if by == "rival certifier" else c.certifier
    window = (t - 7200, t - 3600) if later == "expired" else (t + 86400, t + 2 * 86400)

    issue_quality(c, lot_id, *window, issuer=issuer)

    assert c.certificates.functions.hasValidLotCertificate(lot_id, QUALITY).call() is True
    c.accept(c.refinery, handoff_id, lot_id, c.miner)
    assert c.balance(c.refinery, lot_id) == 400
    assert c.balance(escrow, lot_id) == 0


def test_revoking_the_valid_certificate_leaves_another_valid_one_counting(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id, handoff_id, escrow = _policy_handoff(c)
    t = now(c)
    issue_quality(c, lot_id, t - 60, t + 3600, issuer=_rival_certifier(c))
    latest = issue_quality(c, lot_id, t - 30, t + 86400)

    c.act(c.certifier, c.certificates.functions.revoke(latest, "sample mixed up"))

    c.accept(c.refinery, handoff_id, lot_id, c.miner)
    assert c.balance(c.refinery, lot_id) == 400
    assert c.balance(escrow, lot_id) == 0


def test_revoking_the_only_valid_certificate_fails_the_policy(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = _policy_handoff(c)
    t = now(c)
    valid = issue_quality(c, lot_id, t - 60, t + 86400)
    issue_quality(c, lot_id, t + 86400, t + 2 * 86400)  # a renewal, not valid yet
    issue_quality(c, lot_id, t - 7200, t - 3600, issuer=_rival_certifier(c))  # expired

    c.act(c.certifier, c.certificates.functions.revoke(valid, "lab error"))

    _accept_refused_for_certificate(c, lot_id, handoff_id, escrow)


def test_a_receiver_with_a_policy_can_still_reject(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = _policy_handoff(c)

    c.act(c.refinery, reject_call(c, handoff_id, lot_id, c.miner, c.refinery))

    assert c.balance(c.miner, lot_id) == 1000
    assert c.balance(escrow, lot_id) == 0


def test_removing_the_policy_lifts_the_requirement(consortium: Consortium) -> None:
    c = consortium
    lot_id, handoff_id, escrow = _policy_handoff(c)

    c.act(c.refinery, c.lots.functions.setAcceptancePolicy(b"\x00" * 32))
    c.accept(c.refinery, handoff_id, lot_id, c.miner)

    assert c.lots.functions.acceptancePolicy(c.refinery.address).call() == b"\x00" * 32
    assert c.balance(c.refinery, lot_id) == 400
    assert c.balance(escrow, lot_id) == 0


def test_a_policy_binds_only_the_receiver_that_declared_it(consortium: Consortium) -> None:
    c = consortium
    c.act(c.refinery, c.lots.functions.setAcceptancePolicy(QUALITY))
    lot_id, handoff_id, escrow = open_handoff(c, c.miner, c.maker, quantity=400)

    c.accept(c.maker, handoff_id, lot_id, c.miner)

    assert c.balance(c.maker, lot_id) == 400
    assert c.balance(escrow, lot_id) == 0
