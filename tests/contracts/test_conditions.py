"""Conditions: who may quarantine a lot and lift it, and what a quarantine blocks.

A quarantine covers a whole lot id, for every holder. It is set by a REPORTER, a CERTIFIER,
or the custodian of all of the lot's quantity; it is lifted by whoever set it (or a key it
was rotated to), or as an override by an AUDITOR or an ADMIN_ROLE holder, always with a
reason. The events name who set and who lifted it.
"""

from __future__ import annotations

from typing import Any

import pytest
from web3.types import TxReceipt

from contracts.chain.client import LocalSigner
from contracts.chain.domain import LotKind, Role
from tests.contracts.consortium import H1, H2, Consortium

pytestmark = pytest.mark.chain

RAW = int(LotKind.RAW_MATERIAL)
BUNDLE = int(LotKind.BUNDLE)
ZERO_ADDRESS = "0x" + "00" * 20
# Lots.QuarantineAuthority
BY_REPORTER, BY_CERTIFIER, BY_CUSTODIAN = 1, 2, 3


def quarantine(c: Consortium, who: LocalSigner, lot_id: int, reason: str = "hot") -> TxReceipt:
    return c.act(who, c.lots.functions.setQuarantine(lot_id, reason))


def clear(c: Consortium, who: LocalSigner, lot_id: int, reason: str = "ok") -> TxReceipt:
    return c.act(who, c.lots.functions.clearQuarantine(lot_id, reason))


def lot_view(c: Consortium, lot_id: int) -> tuple[int, bool, str]:
    """(kind, quarantined, who set the quarantine)."""
    kind, quarantined, set_by, _ = c.lots.functions.lot(lot_id).call()
    return int(kind), bool(quarantined), str(set_by)


def escrow_of(c: Consortium, handoff_id: int, sender: LocalSigner, receiver: LocalSigner) -> str:
    return str(c.lots.functions.handoffEscrow(handoff_id, sender.address, receiver.address).call())


def output(lot_id: int, quantity: int, kind: int = int(LotKind.COMPONENT)) -> tuple[Any, ...]:
    return (lot_id, quantity, kind, H1, H2)


def second_reporter(c: Consortium) -> LocalSigner:
    """Onboards the stranger as another REPORTER (undone by the fixture's snapshot)."""
    c.act(c.admin, c.lots.functions.registerParticipant(c.stranger.address, int(Role.REPORTER), H1))
    return c.stranger


# --------------------------------------------------------------------------- setting


@pytest.mark.parametrize(
    ("who", "authority"), [("reporter", BY_REPORTER), ("certifier", BY_CERTIFIER)]
)
def test_a_reporter_or_certifier_quarantines_any_lot(
    consortium: Consortium, who: str, authority: int
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    actor = c.members[who]

    receipt = quarantine(c, actor, lot_id, "temperature excursion")

    (event,) = c.events(receipt, c.lots, "QuarantineSet")
    assert event == {
        "lotId": lot_id,
        "by": actor.address,
        "authority": authority,
        "reason": "temperature excursion",
    }
    assert lot_view(c, lot_id) == (RAW, True, actor.address)
    assert c.balance(c.miner, lot_id) == 1000


def test_the_custodian_of_a_whole_lot_quarantines_it(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)

    receipt = quarantine(c, c.miner, lot_id, "suspected contamination")

    (event,) = c.events(receipt, c.lots, "QuarantineSet")
    assert event == {
        "lotId": lot_id,
        "by": c.miner.address,
        "authority": BY_CUSTODIAN,
        "reason": "suspected contamination",
    }
    assert lot_view(c, lot_id) == (RAW, True, c.miner.address)


def test_a_holder_of_part_of_a_lot_cannot_quarantine_the_others_part(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    c.accept(c.refinery, c.handoff(c.miner, c.refinery, lot_id, 10), lot_id, c.miner)

    for holder in (c.refinery, c.miner):
        err = c.reverts(holder, c.lots.functions.setQuarantine(lot_id, "mine now"))
        assert err.name == "NotQuarantineAuthority"
        assert err.error.args == {"lotId": lot_id, "account": holder.address}
    assert lot_view(c, lot_id) == (RAW, False, ZERO_ADDRESS)
    # A REPORTER still can, for everyone's part.
    quarantine(c, c.reporter, lot_id)
    assert lot_view(c, lot_id) == (RAW, True, c.reporter.address)


def test_a_custodian_with_part_of_its_lot_in_an_open_handoff_cannot_quarantine(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    c.handoff(c.miner, c.refinery, lot_id, 100)

    err = c.reverts(c.miner, c.lots.functions.setQuarantine(lot_id, "hot"))

    assert err.name == "NotQuarantineAuthority"
    assert lot_view(c, lot_id) == (RAW, False, ZERO_ADDRESS)


def test_whoever_receives_every_unit_becomes_the_custodian(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    c.accept(c.refinery, c.handoff(c.miner, c.refinery, lot_id, 1000), lot_id, c.miner)

    err = c.reverts(c.miner, c.lots.functions.setQuarantine(lot_id, "hot"))
    assert err.name == "NotQuarantineAuthority"

    quarantine(c, c.refinery, lot_id)
    assert lot_view(c, lot_id) == (RAW, True, c.refinery.address)


def test_what_a_transformation_consumed_no_longer_counts_against_the_custodian(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    c.act(c.maker, c.lots.functions.transform([lot_id], [400], [output(c.new_id(), 40)], H1))
    assert c.lots.functions.lot(lot_id).call()[3] == 600

    quarantine(c, c.maker, lot_id)

    assert lot_view(c, lot_id) == (RAW, True, c.maker.address)


def test_a_reporter_quarantines_a_lot_held_in_escrow(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    c.handoff(c.miner, c.refinery, lot_id, 1000)

    quarantine(c, c.reporter, lot_id)

    assert lot_view(c, lot_id) == (RAW, True, c.reporter.address)


@pytest.mark.parametrize("who", ["refinery", "distributor", "auditor"])
def test_a_participant_neither_reporter_certifier_nor_custodian_cannot_quarantine(
    consortium: Consortium, who: str
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    actor = c.members[who]

    err = c.reverts(actor, c.lots.functions.setQuarantine(lot_id, "rumour"))

    assert err.name == "NotQuarantineAuthority"
    assert err.error.args == {"lotId": lot_id, "account": actor.address}
    assert lot_view(c, lot_id) == (RAW, False, ZERO_ADDRESS)


def test_a_sender_whose_whole_quantity_is_in_escrow_is_no_longer_a_custodian(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    c.handoff(c.miner, c.refinery, lot_id, 1000)

    err = c.reverts(c.miner, c.lots.functions.setQuarantine(lot_id, "late"))

    assert err.name == "NotQuarantineAuthority"
    assert err.error.args == {"lotId": lot_id, "account": c.miner.address}
    assert lot_view(c, lot_id) == (RAW, False, ZERO_ADDRESS)


def test_an_unregistered_account_cannot_quarantine(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)

    err = c.reverts(c.stranger, c.lots.functions.setQuarantine(lot_id, "x"))

    assert err.name == "UnknownParticipant"
    assert err.error.args == {"account": c.stranger.address}
    assert lot_view(c, lot_id) == (RAW, False, ZERO_ADDRESS)


def test_a_suspended_reporter_cannot_quarantine(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    c.act(c.admin, c.lots.functions.suspendParticipant(c.reporter.address, "faulty sensor"))

    err = c.reverts(c.reporter, c.lots.functions.setQuarantine(lot_id, "x"))

    assert err.name == "SuspendedParticipant"
    assert err.error.args == {"account": c.reporter.address}
    assert lot_view(c, lot_id) == (RAW, False, ZERO_ADDRESS)


def test_an_unknown_lot_cannot_be_quarantined(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.new_id()

    err = c.reverts(c.reporter, c.lots.functions.setQuarantine(lot_id, "x"))

    assert err.name == "UnknownLot"
    assert err.error.args == {"lotId": lot_id}
    assert lot_view(c, lot_id) == (int(LotKind.NONE), False, ZERO_ADDRESS)


@pytest.mark.parametrize(("first", "second"), [("reporter", "miner"), ("miner", "certifier")])
def test_a_quarantined_lot_cannot_be_quarantined_again(
    consortium: Consortium, first: str, second: str
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    quarantine(c, c.members[first], lot_id)

    err = c.reverts(c.members[second], c.lots.functions.setQuarantine(lot_id, "again"))

    assert err.name == "AlreadyQuarantined"
    assert err.error.args == {"lotId": lot_id}
    assert lot_view(c, lot_id) == (RAW, True, c.members[first].address)


def test_a_quarantine_needs_a_reason(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)

    for who in (c.reporter, c.miner):
        err = c.reverts(who, c.lots.functions.setQuarantine(lot_id, ""))
        assert err.name == "EmptyReason"
    assert lot_view(c, lot_id) == (RAW, False, ZERO_ADDRESS)


# -------------------------------------------------------------------------- clearing


def test_clearing_a_lot_that_is_not_quarantined_is_refused(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)

    for who in (c.reporter, c.miner, c.auditor, c.admin):
        err = c.reverts(who, c.lots.functions.clearQuarantine(lot_id, "nothing to clear"))
        assert err.name == "NotQuarantined"
        assert err.error.args == {"lotId": lot_id}
    assert lot_view(c, lot_id) == (RAW, False, ZERO_ADDRESS)


def test_a_reporter_lifts_its_quarantine_and_the_event_names_both_sides(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    quarantine(c, c.reporter, lot_id)

    receipt = clear(c, c.reporter, lot_id, "lab results fine")

    (event,) = c.events(receipt, c.lots, "QuarantineCleared")
    assert event == {
        "lotId": lot_id,
        "by": c.reporter.address,
        "setBy": c.reporter.address,
        "reason": "lab results fine",
    }
    assert lot_view(c, lot_id) == (RAW, False, ZERO_ADDRESS)


def test_a_custodian_lifts_its_own_quarantine(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    quarantine(c, c.miner, lot_id)

    receipt = clear(c, c.miner, lot_id, "false alarm")

    (event,) = c.events(receipt, c.lots, "QuarantineCleared")
    assert event == {
        "lotId": lot_id,
        "by": c.miner.address,
        "setBy": c.miner.address,
        "reason": "false alarm",
    }
    assert lot_view(c, lot_id) == (RAW, False, ZERO_ADDRESS)


@pytest.mark.parametrize(
    ("setter", "lifter"),
    [
        ("reporter", "miner"),  # the custodian of every unit
        ("reporter", "second reporter"),
        ("reporter", "certifier"),
        ("certifier", "reporter"),
        ("miner", "reporter"),
        ("miner", "certifier"),
        ("reporter", "distributor"),
    ],
)
def test_only_whoever_set_a_quarantine_lifts_it(
    consortium: Consortium, setter: str, lifter: str
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    who = second_reporter(c) if lifter == "second reporter" else c.members[lifter]
    quarantine(c, c.members[setter], lot_id, "humidity")

    err = c.reverts(who, c.lots.functions.clearQuarantine(lot_id, "looks fine to me"))

    assert err.name == "NotQuarantineSetter"
    assert err.error.args == {
        "lotId": lot_id,
        "setBy": c.members[setter].address,
        "account": who.address,
    }
    assert lot_view(c, lot_id) == (RAW, True, c.members[setter].address)


@pytest.mark.parametrize("setter", ["reporter", "certifier", "miner"])
@pytest.mark.parametrize("lifter", ["auditor", "admin"])
def test_an_auditor_or_admin_lifts_anyones_quarantine_with_a_reason(
    consortium: Consortium, setter: str, lifter: str
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    quarantine(c, c.members[setter], lot_id)
    who = c.admin if lifter == "admin" else c.members[lifter]

    receipt = clear(c, who, lot_id, "audit found no defect")

    (event,) = c.events(receipt, c.lots, "QuarantineCleared")
    assert event == {
        "lotId": lot_id,
        "by": who.address,
        "setBy": c.members[setter].address,
        "reason": "audit found no defect",
    }
    assert lot_view(c, lot_id) == (RAW, False, ZERO_ADDRESS)
    c.accept(c.refinery, c.handoff(c.miner, c.refinery, lot_id, 5), lot_id, c.miner)


def test_lifting_needs_a_reason_even_for_the_admin(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    quarantine(c, c.reporter, lot_id)

    for who in (c.reporter, c.auditor, c.admin):
        err = c.reverts(who, c.lots.functions.clearQuarantine(lot_id, ""))
        assert err.name == "EmptyReason"
    assert lot_view(c, lot_id) == (RAW, True, c.reporter.address)


def test_a_suspended_auditor_or_setter_cannot_lift(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    quarantine(c, c.reporter, lot_id)
    for who in (c.auditor, c.reporter):
        c.act(c.admin, c.lots.functions.suspendParticipant(who.address, "under review"))

        err = c.reverts(who, c.lots.functions.clearQuarantine(lot_id, "x"))

        assert err.name == "SuspendedParticipant"
        assert err.error.args == {"account": who.address}
    assert lot_view(c, lot_id) == (RAW, True, c.reporter.address)


def test_a_stranger_cannot_lift(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    quarantine(c, c.reporter, lot_id)

    err = c.reverts(c.stranger, c.lots.functions.clearQuarantine(lot_id, "x"))

    assert err.name == "UnknownParticipant"
    assert lot_view(c, lot_id) == (RAW, True, c.reporter.address)


def test_a_cleared_lot_can_be_quarantined_again(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    quarantine(c, c.reporter, lot_id)
    clear(c, c.reporter, lot_id)

    quarantine(c, c.miner, lot_id)

    # The new quarantine is the custodian's: the reporter no longer holds it.
    assert lot_view(c, lot_id) == (RAW, True, c.miner.address)
    assert c.reverts(c.reporter, c.lots.functions.clearQuarantine(lot_id, "x")).name == (
        "NotQuarantineSetter"
    )
    clear(c, c.miner, lot_id)
    assert lot_view(c, lot_id) == (RAW, False, ZERO_ADDRESS)


def test_while_paused_quarantines_cannot_change(consortium: Consortium) -> None:
    c = consortium
    held = c.register_lot(c.miner)
    free = c.register_lot(c.miner)
    quarantine(c, c.reporter, held)
    c.act(c.admin, c.lots.functions.pause())

    for who in (c.reporter, c.admin):
        assert c.reverts(who, c.lots.functions.clearQuarantine(held, "x")).name == ("SystemPaused")
    assert c.reverts(c.reporter, c.lots.functions.setQuarantine(free, "x")).name == ("SystemPaused")
    assert lot_view(c, held) == (RAW, True, c.reporter.address)
    assert lot_view(c, free) == (RAW, False, ZERO_ADDRESS)


# ---------------------------------------------------------------- what quarantine blocks


def test_a_quarantined_lot_cannot_be_handed_off(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    quarantine(c, c.reporter, lot_id)
    before = c.balances([lot_id])

    err = c.reverts(c.miner, c.lots.functions.initiateHandoff(lot_id, c.refinery.address, 10))

    assert err.name == "LotQuarantined"
    assert err.error.args == {"lotId": lot_id}
    assert c.balances([lot_id]) == before
    assert c.lots.functions.counts().call()[0] == 0


def test_a_quarantined_lot_cannot_be_bundled(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    other = c.register_lot(c.miner)
    quarantine(c, c.miner, lot_id)
    bundle_id = c.new_id()
    before = c.balances([lot_id, other, bundle_id])

    err = c.reverts(c.miner, c.lots.functions.bundle(bundle_id, [other, lot_id], [5, 5], H1, H2))

    assert err.name == "LotQuarantined"
    assert err.error.args == {"lotId": lot_id}
    assert c.balances([lot_id, other, bundle_id]) == before
    assert c.lots.functions.lotExists(bundle_id).call() is False
    assert c.balance(c.lots.functions.bundleEscrow(bundle_id).call(), other) == 0


@pytest.mark.parametrize("position", [0, 1])
def test_a_quarantined_lot_cannot_be_transformed(consortium: Consortium, position: int) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    other = c.register_lot(c.maker)
    quarantine(c, c.reporter, lot_id)
    inputs = [lot_id, other] if position == 0 else [other, lot_id]
    out_id = c.new_id()
    before = c.balances([lot_id, other, out_id])

    err = c.reverts(
        c.maker, c.lots.functions.transform(inputs, [100, 100], [output(out_id, 50)], H1)
    )

    assert err.name == "LotQuarantined"
    assert err.error.args == {"lotId": lot_id}
    assert c.balances([lot_id, other, out_id]) == before
    assert c.lots.functions.lotExists(out_id).call() is False
    assert c.lots.functions.counts().call()[1] == 0


def test_a_quarantined_bundle_cannot_be_opened_or_handed_off(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    bundle_id = c.new_id()
    c.act(c.miner, c.lots.functions.bundle(bundle_id, [lot_id], [600], H1, H2))
    quarantine(c, c.miner, bundle_id)
    assert lot_view(c, bundle_id) == (BUNDLE, True, c.miner.address)
    escrow = c.lots.functions.bundleEscrow(bundle_id).call()
    before = c.balances([lot_id, bundle_id])

    opened = c.reverts(c.miner, c.lots.functions.unbundle(bundle_id, [lot_id], [600]))
    moved = c.reverts(c.miner, c.lots.functions.initiateHandoff(bundle_id, c.refinery.address, 1))

    assert (opened.name, opened.error.args) == ("LotQuarantined", {"lotId": bundle_id})
    assert (moved.name, moved.error.args) == ("LotQuarantined", {"lotId": bundle_id})
    assert c.balances([lot_id, bundle_id]) == before
    assert c.balance(escrow, lot_id) == 600
    assert c.balance(c.miner, bundle_id) == 1


def test_after_clearing_a_lot_can_be_handed_off(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    quarantine(c, c.reporter, lot_id)
    clear(c, c.reporter, lot_id)

    handoff_id = c.handoff(c.miner, c.refinery, lot_id, 250)
    c.accept(c.refinery, handoff_id, lot_id, c.miner)

    assert c.balance(c.refinery, lot_id) == 250
    assert c.balance(c.miner, lot_id) == 750


def test_after_clearing_a_lot_can_be_transformed(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    quarantine(c, c.maker, lot_id)
    clear(c, c.maker, lot_id)
    out_id = c.new_id()

    c.act(c.maker, c.lots.functions.transform([lot_id], [400], [output(out_id, 40)], H1))

    assert c.balance(c.maker, lot_id) == 600
    assert c.balance(c.maker, out_id) == 40


def test_an_open_handoff_of_a_lot_quarantined_later_can_still_be_returned(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    rejected = c.handoff(c.miner, c.refinery, lot_id, 100)
    cancelled = c.handoff(c.miner, c.refinery, lot_id, 200)
    quarantine(c, c.reporter, lot_id)

    c.act(
        c.refinery,
        c.lots.functions.rejectHandoff(
            rejected, lot_id, c.miner.address, c.refinery.address, "quarantined"
        ),
    )
    c.act(
        c.miner,
        c.lots.functions.cancelHandoff(cancelled, lot_id, c.miner.address, c.refinery.address),
    )

    assert c.balance(c.miner, lot_id) == 1000
    assert c.balance(escrow_of(c, rejected, c.miner, c.refinery), lot_id) == 0
    assert c.balance(escrow_of(c, cancelled, c.miner, c.refinery), lot_id) == 0
    assert lot_view(c, lot_id) == (RAW, True, c.reporter.address)


def test_an_open_handoff_of_a_lot_quarantined_later_cannot_be_accepted(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    handoff_id = c.handoff(c.miner, c.refinery, lot_id, 300)
    escrow = escrow_of(c, handoff_id, c.miner, c.refinery)
    quarantine(c, c.reporter, lot_id)
    before = c.balances([lot_id])

    err = c.reverts(
        c.refinery,
        c.lots.functions.acceptHandoff(handoff_id, lot_id, c.miner.address, c.refinery.address),
    )

    assert err.name == "LotQuarantined"
    assert err.error.args == {"lotId": lot_id}
    assert c.balances([lot_id]) == before
    assert c.balance(escrow, lot_id) == 300

    clear(c, c.reporter, lot_id)
    c.accept(c.refinery, handoff_id, lot_id, c.miner)
    assert c.balance(c.refinery, lot_id) == 300
    assert c.balance(escrow, lot_id) == 0


def test_a_bundle_holding_a_quarantined_lot_cannot_be_handed_off(consortium: Consortium) -> None:
    # More on quarantines inside bundles (nesting, clearing, opening): test_bundle_quarantine.py
    c = consortium
    lot_id = c.register_lot(c.maker)
    bundle_id = c.new_id()
    c.act(c.maker, c.lots.functions.bundle(bundle_id, [lot_id], [500], H1, H2))
    quarantine(c, c.reporter, lot_id)
    before = c.snapshot([lot_id, bundle_id])

    err = c.reverts(c.maker, c.lots.functions.initiateHandoff(bundle_id, c.distributor.address, 1))

    assert err.name == "LotQuarantined"
    assert err.error.args == {"lotId": lot_id}
    assert c.snapshot([lot_id, bundle_id]) == before
    assert c.balance(c.maker, bundle_id) == 1
    assert lot_view(c, bundle_id) == (BUNDLE, False, ZERO_ADDRESS)
