"""Transformations: a manufacturer consumes input lots it holds and registers output lots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from contracts.chain.client import LocalSigner
from contracts.chain.domain import LotKind, Role
from tests.contracts.consortium import H1, H2, Consortium

pytestmark = pytest.mark.chain

ZERO_ADDRESS = "0x" + "00" * 20

PROCESS = b"\x0b" * 32
PRODUCERS = int(Role.MINER | Role.MANUFACTURER)


# ---------------------------------------------------------------------------- helpers


def output(
    lot_id: int, quantity: int, kind: int = LotKind.PRODUCT, metadata: bytes = H1, gs1: bytes = H2
) -> tuple[int, int, int, bytes, bytes]:
    return (lot_id, quantity, int(kind), metadata, gs1)


def inputs(c: Consortium, who: LocalSigner) -> tuple[int, int]:
    """Two input lots held by `who`: 1000 g of ore and 200 pieces of a component."""
    ore = c.register_lot(who, 1000, LotKind.RAW_MATERIAL)
    part = c.register_lot(who, 200, LotKind.COMPONENT)
    return ore, part


def state(c: Consortium, lot_ids: Sequence[int]) -> dict[Any, Any]:
    return c.snapshot(lot_ids)


def assert_refused(
    c: Consortium, signer: LocalSigner, call: Any, name: str, watched: Sequence[int], **args: Any
) -> None:
    """`call` is mined, reverts with `name(**args)`, and nothing watched changed."""
    before = state(c, watched)
    exc = c.reverts(signer, call)
    assert exc.name == name, exc
    assert exc.error is not None
    for key, value in args.items():
        assert exc.error.args[key] == value, (key, exc.error.args)
    assert state(c, watched) == before


def unregistered(c: Consortium, lot_id: int) -> bool:
    return bool(c.lots.functions.lot(lot_id).call()[0] == LotKind.NONE)


# ------------------------------------------------------------------------- happy path


def test_a_transformation_burns_the_inputs_and_registers_outputs_held_by_the_manufacturer(
    consortium: Consortium,
) -> None:
    c = consortium
    ore, part = inputs(c, c.maker)
    ingot, scrap = c.new_id(), c.new_id()
    call = c.lots.functions.transform(
        [ore, part],
        [400, 200],
        [output(ingot, 10, LotKind.PRODUCT), output(scrap, 5, LotKind.COMPONENT, H2, H1)],
        PROCESS,
    )
    assert call.call({"from": c.maker.address}) == 1

    receipt = c.act(c.maker, call)

    (transformed,) = c.events(receipt, c.lots, "LotsTransformed")
    assert transformed == {
        "transformationId": 1,
        "actor": c.maker.address,
        "inputIds": [ore, part],
        "inputQuantities": [400, 200],
        "outputIds": [ingot, scrap],
        "outputQuantities": [10, 5],
        "processHash": PROCESS,
    }
    assert c.events(receipt, c.lots, "LotRegistered") == [
        {
            "lotId": ingot,
            "owner": c.maker.address,
            "kind": LotKind.PRODUCT,
            "quantity": 10,
            "metadataHash": H1,
            "gs1KeyHash": H2,
        },
        {
            "lotId": scrap,
            "owner": c.maker.address,
            "kind": LotKind.COMPONENT,
            "quantity": 5,
            "metadataHash": H2,
            "gs1KeyHash": H1,
        },
    ]
    assert c.balance(c.maker, ore) == 600
    assert c.balance(c.maker, part) == 0
    assert c.balance(c.maker, ingot) == 10
    assert c.balance(c.maker, scrap) == 5
    assert tuple(c.lots.functions.lot(ingot).call()) == (LotKind.PRODUCT, False, ZERO_ADDRESS, 10)
    assert tuple(c.lots.functions.lot(scrap).call()) == (LotKind.COMPONENT, False, ZERO_ADDRESS, 5)
    # What was consumed no longer exists: the inputs' quantities shrink with the burn.
    assert c.lots.functions.lot(ore).call()[3] == 600
    assert c.lots.functions.lot(part).call()[3] == 0
    # Nobody else received anything.
    others = {k: v for k, v in c.balances([ingot, scrap]).items() if k[0] != c.maker.address}
    assert set(others.values()) == {0}
    assert tuple(c.lots.functions.counts().call()) == (0, 1)


def test_transformation_ids_count_up(consortium: Consortium) -> None:
    c = consortium
    ore, _ = inputs(c, c.maker)
    ids = []
    for _ in range(2):
        receipt = c.act(
            c.maker,
            c.lots.functions.transform([ore], [100], [output(c.new_id(), 1)], PROCESS),
        )
        (event,) = c.events(receipt, c.lots, "LotsTransformed")
        ids.append(event["transformationId"])
    assert ids == [1, 2]
    assert tuple(c.lots.functions.counts().call()) == (0, 2)
    assert c.balance(c.maker, ore) == 800


def test_a_manufacturer_transforms_material_received_by_handoff(consortium: Consortium) -> None:
    c = consortium
    ore = c.register_lot(c.miner, 1000, LotKind.RAW_MATERIAL)
    handoff_id = c.handoff(c.miner, c.refinery, ore, 1000)
    c.accept(c.refinery, handoff_id, ore, c.miner)
    ingot = c.new_id()

    c.act(c.refinery, c.lots.functions.transform([ore], [1000], [output(ingot, 900)], PROCESS))

    assert c.balance(c.refinery, ore) == 0
    assert c.balance(c.refinery, ingot) == 900
    assert c.balance(c.miner, ore) == 0


# ---------------------------------------------------------------------------- refused


def test_inputs_the_caller_does_not_hold_are_refused_and_nothing_is_minted(
    consortium: Consortium,
) -> None:
    c = consortium
    ore, part = inputs(c, c.maker)
    ingot = c.new_id()
    assert_refused(
        c,
        c.refinery,
        c.lots.functions.transform([ore], [400], [output(ingot, 10)], PROCESS),
        "ERC1155InsufficientBalance",
        [ore, part, ingot],
        sender=c.refinery.address,
        balance=0,
        needed=400,
        tokenId=ore,
    )
    assert unregistered(c, ingot)


def test_consuming_more_than_the_caller_holds_is_refused(consortium: Consortium) -> None:
    c = consortium
    ore, part = inputs(c, c.maker)
    ingot = c.new_id()
    assert_refused(
        c,
        c.maker,
        c.lots.functions.transform([ore, part], [400, 201], [output(ingot, 10)], PROCESS),
        "ERC1155InsufficientBalance",
        [ore, part, ingot],
        sender=c.maker.address,
        balance=200,
        needed=201,
        tokenId=part,
    )
    assert unregistered(c, ingot)
    assert c.balance(c.maker, ore) == 1000


def test_a_quarantined_input_cannot_be_transformed(consortium: Consortium) -> None:
    c = consortium
    ore, part = inputs(c, c.maker)
    c.act(c.reporter, c.lots.functions.setQuarantine(part, "failed inspection"))
    ingot = c.new_id()
    assert_refused(
        c,
        c.maker,
        c.lots.functions.transform([ore, part], [400, 200], [output(ingot, 10)], PROCESS),
        "LotQuarantined",
        [ore, part, ingot],
        lotId=part,
    )
    assert unregistered(c, ingot)


def test_an_unknown_input_is_refused(consortium: Consortium) -> None:
    c = consortium
    ore, _ = inputs(c, c.maker)
    unknown, ingot = c.new_id(), c.new_id()
    assert_refused(
        c,
        c.maker,
        c.lots.functions.transform([ore, unknown], [1, 1], [output(ingot, 10)], PROCESS),
        "UnknownLot",
        [ore, unknown, ingot],
        lotId=unknown,
    )


def test_an_output_id_that_already_exists_is_refused_and_the_inputs_are_not_burnt(
    consortium: Consortium,
) -> None:
    c = consortium
    ore, part = inputs(c, c.maker)
    existing = c.register_lot(c.miner, 7)
    fresh = c.new_id()
    assert_refused(
        c,
        c.maker,
        c.lots.functions.transform([ore], [400], [output(fresh, 1), output(existing, 10)], PROCESS),
        "LotAlreadyExists",
        [ore, part, existing, fresh],
        lotId=existing,
    )
    assert c.balance(c.maker, ore) == 1000
    assert c.balance(c.miner, existing) == 7
    assert tuple(c.lots.functions.lot(existing).call()) == (
        LotKind.RAW_MATERIAL,
        False,
        ZERO_ADDRESS,
        7,
    )
    assert unregistered(c, fresh)


def test_the_same_output_id_twice_is_refused(consortium: Consortium) -> None:
    c = consortium
    ore, _ = inputs(c, c.maker)
    ingot = c.new_id()
    assert_refused(
        c,
        c.maker,
        c.lots.functions.transform([ore], [400], [output(ingot, 1), output(ingot, 2)], PROCESS),
        "LotAlreadyExists",
        [ore, ingot],
        lotId=ingot,
    )
    assert unregistered(c, ingot)


def test_an_input_cannot_reappear_as_an_output(consortium: Consortium) -> None:
    c = consortium
    ore, _ = inputs(c, c.maker)
    assert_refused(
        c,
        c.maker,
        c.lots.functions.transform([ore], [1000], [output(ore, 1000)], PROCESS),
        "LotAlreadyExists",
        [ore],
        lotId=ore,
    )
    assert c.balance(c.maker, ore) == 1000


@pytest.mark.parametrize("kind", [LotKind.BUNDLE, LotKind.NONE], ids=["bundle", "none"])
def test_an_output_must_be_material_not_a_bundle_or_nothing(
    consortium: Consortium, kind: LotKind
) -> None:
    c = consortium
    ore, _ = inputs(c, c.maker)
    good, bad = c.new_id(), c.new_id()
    assert_refused(
        c,
        c.maker,
        c.lots.functions.transform([ore], [400], [output(good, 1), output(bad, 1, kind)], PROCESS),
        "InvalidLotKind",
        [ore, good, bad],
        kind=int(kind),
    )
    assert unregistered(c, good)
    assert unregistered(c, bad)


def test_a_bundle_cannot_be_consumed_as_a_transformation_input(consortium: Consortium) -> None:
    c = consortium
    ore, _ = inputs(c, c.maker)
    bundle_id, product = c.new_id(), c.new_id()
    c.act(c.maker, c.lots.functions.bundle(bundle_id, [ore], [400], H1, H2))
    escrow = c.lots.functions.bundleEscrow(bundle_id).call()

    # Refused (open the bundle first), so the contents stay reachable.
    err = c.reverts(
        c.maker, c.lots.functions.transform([bundle_id], [1], [output(product, 1)], PROCESS)
    )
    assert err.name == "BundleNotTransformable"
    assert err.error is not None
    assert err.error.args == {"lotId": bundle_id}
    assert unregistered(c, product)
    assert c.balance(c.maker, bundle_id) == 1
    assert c.balance(escrow, ore) == 400
    c.act(c.maker, c.lots.functions.unbundle(bundle_id, [ore], [400]))
    assert c.balance(c.maker, ore) == 1000


def test_a_zero_quantity_output_is_refused(consortium: Consortium) -> None:
    c = consortium
    ore, _ = inputs(c, c.maker)
    ingot = c.new_id()
    assert_refused(
        c,
        c.maker,
        c.lots.functions.transform([ore], [400], [output(ingot, 0)], PROCESS),
        "ZeroQuantity",
        [ore, ingot],
    )
    assert unregistered(c, ingot)


def test_a_transformation_without_outputs_is_refused(consortium: Consortium) -> None:
    c = consortium
    ore, part = inputs(c, c.maker)
    assert_refused(
        c,
        c.maker,
        c.lots.functions.transform([ore, part], [400, 200], [], PROCESS),
        "EmptyList",
        [ore, part],
    )


def test_a_transformation_without_inputs_is_refused(consortium: Consortium) -> None:
    c = consortium
    ore, _ = inputs(c, c.maker)
    ingot = c.new_id()
    assert_refused(
        c,
        c.maker,
        c.lots.functions.transform([], [], [output(ingot, 10)], PROCESS),
        "EmptyList",
        [ore, ingot],
    )
    assert unregistered(c, ingot)


def test_input_lists_of_different_lengths_are_refused(consortium: Consortium) -> None:
    c = consortium
    ore, part = inputs(c, c.maker)
    ingot = c.new_id()
    assert_refused(
        c,
        c.maker,
        c.lots.functions.transform([ore, part], [400], [output(ingot, 10)], PROCESS),
        "LengthMismatch",
        [ore, part, ingot],
        ids=2,
        quantities=1,
    )


def test_a_distributor_cannot_transform(consortium: Consortium) -> None:
    c = consortium
    ore, part = inputs(c, c.maker)
    handoff_id = c.handoff(c.maker, c.distributor, ore, 400)
    c.accept(c.distributor, handoff_id, ore, c.maker)
    ingot = c.new_id()
    assert_refused(
        c,
        c.distributor,
        c.lots.functions.transform([ore], [400], [output(ingot, 10)], PROCESS),
        "MissingRole",
        [ore, part, ingot],
        account=c.distributor.address,
        anyOfRoles=PRODUCERS,
    )
    assert c.balance(c.distributor, ore) == 400
    assert unregistered(c, ingot)


def test_a_suspended_manufacturer_cannot_transform(consortium: Consortium) -> None:
    c = consortium
    ore, part = inputs(c, c.maker)
    c.act(c.admin, c.lots.functions.suspendParticipant(c.maker.address, "audit pending"))
    ingot = c.new_id()
    assert_refused(
        c,
        c.maker,
        c.lots.functions.transform([ore], [400], [output(ingot, 10)], PROCESS),
        "SuspendedParticipant",
        [ore, part, ingot],
        account=c.maker.address,
    )
    assert unregistered(c, ingot)


def test_a_stranger_cannot_transform(consortium: Consortium) -> None:
    c = consortium
    ore, _ = inputs(c, c.maker)
    ingot = c.new_id()
    assert_refused(
        c,
        c.stranger,
        c.lots.functions.transform([ore], [400], [output(ingot, 10)], PROCESS),
        "UnknownParticipant",
        [ore, ingot],
        account=c.stranger.address,
    )


def test_nothing_is_transformed_while_the_system_is_paused(consortium: Consortium) -> None:
    c = consortium
    ore, _ = inputs(c, c.maker)
    c.act(c.admin, c.lots.functions.pause())
    ingot = c.new_id()
    assert_refused(
        c,
        c.maker,
        c.lots.functions.transform([ore], [400], [output(ingot, 10)], PROCESS),
        "SystemPaused",
        [ore, ingot],
    )
    assert unregistered(c, ingot)
