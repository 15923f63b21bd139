"""Quarantine reaches through bundles.

A closed bundle holding a quarantined lot, at any depth, cannot be handed off (initiated or
accepted) or packed into another bundle until the quarantine is lifted; the refusal names
the quarantined lot. Its holder may still open it: the contents come out to the holder, the
quarantined lot stays quarantined and the rest may move.
"""

from __future__ import annotations

from typing import Any

import pytest

from contracts.chain.client import LocalSigner, TransactionReverted
from contracts.chain.domain import LotKind
from tests.contracts.consortium import H1, H2, Consortium

pytestmark = pytest.mark.chain

BUNDLE = int(LotKind.BUNDLE)


def pack(c: Consortium, who: LocalSigner, lot_ids: list[int], quantities: list[int]) -> int:
    bundle_id = c.new_id()
    c.act(who, c.lots.functions.bundle(bundle_id, lot_ids, quantities, H1, H2))
    return bundle_id


def unpack(
    c: Consortium, who: LocalSigner, bundle_id: int, lot_ids: list[int], quantities: list[int]
) -> None:
    c.act(who, c.lots.functions.unbundle(bundle_id, lot_ids, quantities))


def quarantine(c: Consortium, lot_id: int) -> None:
    c.act(c.reporter, c.lots.functions.setQuarantine(lot_id, "temperature excursion"))


def clear(c: Consortium, lot_id: int) -> None:
    c.act(c.reporter, c.lots.functions.clearQuarantine(lot_id, "lab results fine"))


def inside(c: Consortium, bundle_id: int) -> int:
    return int(c.lots.functions.quarantinedLotInside(bundle_id).call())


def refused_handoff(
    c: Consortium, sender: LocalSigner, bundle_id: int, ids: list[int]
) -> TransactionReverted:
    """A refused handoff of the bundle to the distributor, which changes nothing."""
    before = c.snapshot(ids)
    err = c.reverts(sender, c.lots.functions.initiateHandoff(bundle_id, c.distributor.address, 1))
    assert c.snapshot(ids) == before
    return err


def pass_on(c: Consortium, sender: LocalSigner, receiver: LocalSigner, lot_id: int) -> None:
    c.accept(receiver, c.handoff(sender, receiver, lot_id, 1), lot_id, sender)


def refusal(err: TransactionReverted) -> tuple[str, dict[str, Any]]:
    assert err.name is not None, err
    assert err.error is not None, err
    return err.name, dict(err.error.args)


# ------------------------------------------------------------------------------ nesting


@pytest.mark.parametrize("depth", [2, 3])
def test_a_quarantined_lot_blocks_every_bundle_above_it(consortium: Consortium, depth: int) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    bundles = [pack(c, c.maker, [lot_id], [400])]
    for _ in range(depth - 1):
        bundles.append(pack(c, c.maker, [bundles[-1]], [1]))
    outer = bundles[-1]

    quarantine(c, lot_id)

    err = refused_handoff(c, c.maker, outer, [lot_id, *bundles])
    assert refusal(err) == ("LotQuarantined", {"lotId": lot_id})
    assert [inside(c, b) for b in bundles] == [lot_id] * depth
    # The bundles themselves are not quarantined: the block comes from inside.
    assert all(c.lots.functions.lot(b).call()[1] is False for b in bundles)


def test_a_quarantined_inner_bundle_blocks_the_outer_bundle(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    inner = pack(c, c.maker, [lot_id], [400])
    outer = pack(c, c.maker, [inner], [1])

    quarantine(c, inner)

    err = refused_handoff(c, c.maker, outer, [lot_id, inner, outer])
    assert refusal(err) == ("LotQuarantined", {"lotId": inner})
    assert (inside(c, inner), inside(c, outer)) == (0, inner)
    clear(c, inner)
    pass_on(c, c.maker, c.distributor, outer)
    assert c.balance(c.distributor, outer) == 1


def test_clearing_the_quarantine_lets_the_nested_bundle_move(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    inner = pack(c, c.maker, [lot_id], [400])
    outer = pack(c, c.maker, [inner], [1])
    quarantine(c, lot_id)

    clear(c, lot_id)

    assert (inside(c, inner), inside(c, outer)) == (0, 0)
    pass_on(c, c.maker, c.distributor, outer)
    assert c.balance(c.distributor, outer) == 1
    # Custody of everything inside moved with it: the distributor opens both levels.
    unpack(c, c.distributor, outer, [inner], [1])
    unpack(c, c.distributor, inner, [lot_id], [400])
    assert c.balance(c.distributor, lot_id) == 400


def test_the_bundle_stays_blocked_until_every_quarantined_lot_inside_is_cleared(
    consortium: Consortium,
) -> None:
    c = consortium
    first, second, clean = (c.register_lot(c.maker) for _ in range(3))
    inner = pack(c, c.maker, [first, clean], [100, 100])
    outer = pack(c, c.maker, [inner, second], [1, 100])
    quarantine(c, first)
    quarantine(c, second)
    ids = [first, second, clean, inner, outer]

    assert refusal(refused_handoff(c, c.maker, outer, ids)) == (
        "LotQuarantined",
        {"lotId": second},
    )
    clear(c, second)
    assert refusal(refused_handoff(c, c.maker, outer, ids)) == (
        "LotQuarantined",
        {"lotId": first},
    )
    quarantine(c, second)
    clear(c, first)
    assert refusal(refused_handoff(c, c.maker, outer, ids)) == (
        "LotQuarantined",
        {"lotId": second},
    )
    assert inside(c, inner) == 0
    clear(c, second)

    pass_on(c, c.maker, c.distributor, outer)
    assert c.balance(c.distributor, outer) == 1


def test_a_lot_split_over_two_bundles_blocks_both(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    left = pack(c, c.maker, [lot_id], [300])
    right = pack(c, c.maker, [lot_id], [200])
    container = pack(c, c.maker, [left, right], [1, 1])
    quarantine(c, lot_id)

    err = refused_handoff(c, c.maker, container, [lot_id, left, right, container])
    assert refusal(err) == ("LotQuarantined", {"lotId": lot_id})
    # The loose part of the lot is quarantined too (the flag covers the whole lot).
    assert c.reverts(
        c.maker, c.lots.functions.initiateHandoff(lot_id, c.distributor.address, 10)
    ).name == ("LotQuarantined")

    clear(c, lot_id)
    assert [inside(c, b) for b in (left, right, container)] == [0, 0, 0]
    pass_on(c, c.maker, c.distributor, container)


def test_a_lot_listed_twice_in_one_bundle_is_counted_consistently(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    bundle_id = pack(c, c.maker, [lot_id, lot_id], [100, 50])
    quarantine(c, lot_id)
    assert inside(c, bundle_id) == lot_id

    clear(c, lot_id)

    assert inside(c, bundle_id) == 0
    pass_on(c, c.maker, c.distributor, bundle_id)


# ---------------------------------------------------------------------- handoffs in flight


def test_a_bundle_in_transit_cannot_be_accepted_once_a_lot_inside_is_quarantined(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    bundle_id = pack(c, c.maker, [lot_id], [400])
    handoff_id = c.handoff(c.maker, c.distributor, bundle_id, 1)
    quarantine(c, lot_id)
    accept = c.lots.functions.acceptHandoff(
        handoff_id, bundle_id, c.maker.address, c.distributor.address
    )
    before = c.snapshot([lot_id, bundle_id])

    err = c.reverts(c.distributor, accept)

    assert refusal(err) == ("LotQuarantined", {"lotId": lot_id})
    assert c.snapshot([lot_id, bundle_id]) == before
    clear(c, lot_id)
    c.act(c.distributor, accept)
    assert c.balance(c.distributor, bundle_id) == 1


def test_a_blocked_bundle_in_transit_can_be_rejected_and_returns_to_the_sender(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    bundle_id = pack(c, c.maker, [lot_id], [400])
    handoff_id = c.handoff(c.maker, c.distributor, bundle_id, 1)
    quarantine(c, lot_id)

    c.act(
        c.distributor,
        c.lots.functions.rejectHandoff(
            handoff_id, bundle_id, c.maker.address, c.distributor.address, "quarantined"
        ),
    )

    assert c.balance(c.maker, bundle_id) == 1
    assert inside(c, bundle_id) == lot_id


# ------------------------------------------------------------------------------- packing


def test_a_bundle_holding_a_quarantined_lot_cannot_be_packed(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    inner = pack(c, c.maker, [lot_id], [400])
    outer = pack(c, c.maker, [inner], [1])
    other = c.register_lot(c.maker)
    quarantine(c, lot_id)
    new_id = c.new_id()
    before = c.snapshot([lot_id, inner, outer, other, new_id])

    err = c.reverts(c.maker, c.lots.functions.bundle(new_id, [other, outer], [5, 1], H1, H2))

    assert refusal(err) == ("LotQuarantined", {"lotId": lot_id})
    assert c.snapshot([lot_id, inner, outer, other, new_id]) == before
    assert c.lots.functions.lotExists(new_id).call() is False


def test_a_lot_quarantined_and_cleared_before_packing_leaves_no_trace(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    quarantine(c, lot_id)
    clear(c, lot_id)

    bundle_id = pack(c, c.maker, [lot_id], [400])

    assert inside(c, bundle_id) == 0
    pass_on(c, c.maker, c.distributor, bundle_id)


def test_only_the_bundles_a_lot_is_in_now_are_blocked(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    first = pack(c, c.maker, [lot_id], [400])
    first_outer = pack(c, c.maker, [first], [1])
    unpack(c, c.maker, first_outer, [first], [1])
    unpack(c, c.maker, first, [lot_id], [400])
    # Repacked: the lot into a new bundle, and a bundle into a new outer bundle.
    second = pack(c, c.maker, [lot_id], [400])
    holder = pack(c, c.maker, [second], [1])
    second_outer = pack(c, c.maker, [holder], [1])

    quarantine(c, lot_id)

    assert [inside(c, b) for b in (first, first_outer)] == [0, 0]
    assert [inside(c, b) for b in (second, holder, second_outer)] == [lot_id] * 3
    clear(c, lot_id)
    assert [inside(c, b) for b in (second, holder, second_outer)] == [0, 0, 0]
    pass_on(c, c.maker, c.distributor, second_outer)


# ------------------------------------------------------------------------------- opening


def test_the_holder_may_open_a_bundle_holding_a_quarantined_lot(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    clean = c.register_lot(c.maker)
    bundle_id = pack(c, c.maker, [lot_id, clean], [400, 300])
    quarantine(c, lot_id)

    unpack(c, c.maker, bundle_id, [lot_id, clean], [400, 300])

    # The contents came to the holder, not to another party; the quarantine stays on the
    # lot, and the rest of the bundle may move.
    assert (c.balance(c.maker, lot_id), c.balance(c.maker, clean)) == (1000, 1000)
    assert c.lots.functions.lot(lot_id).call()[1] is True
    assert inside(c, bundle_id) == 0
    err = c.reverts(c.maker, c.lots.functions.initiateHandoff(lot_id, c.distributor.address, 1))
    assert refusal(err) == ("LotQuarantined", {"lotId": lot_id})
    pass_on(c, c.maker, c.distributor, clean)
    # Lifting the quarantine later finds no bundle above the lot any more.
    clear(c, lot_id)
    pass_on(c, c.maker, c.distributor, lot_id)


def test_opening_the_outer_bundle_leaves_the_inner_one_blocked(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    inner = pack(c, c.maker, [lot_id], [400])
    outer = pack(c, c.maker, [inner], [1])
    quarantine(c, lot_id)

    unpack(c, c.maker, outer, [inner], [1])

    assert (inside(c, inner), inside(c, outer)) == (lot_id, 0)
    err = refused_handoff(c, c.maker, inner, [lot_id, inner, outer])
    assert refusal(err) == ("LotQuarantined", {"lotId": lot_id})
    clear(c, lot_id)
    assert inside(c, inner) == 0
    pass_on(c, c.maker, c.distributor, inner)


def test_only_the_holder_can_open_a_blocked_bundle(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.maker)
    bundle_id = pack(c, c.maker, [lot_id], [400])
    quarantine(c, lot_id)
    before = c.snapshot([lot_id, bundle_id])

    err = c.reverts(c.distributor, c.lots.functions.unbundle(bundle_id, [lot_id], [400]))

    assert refusal(err) == ("NotLotHolder", {"lotId": bundle_id, "account": c.distributor.address})
    assert c.snapshot([lot_id, bundle_id]) == before
