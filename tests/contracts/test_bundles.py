"""Bundles: lots locked into a bundle lot travel with it and come out when it is opened."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from eth_abi.abi import encode
from web3 import Web3

from contracts.chain.client import LocalSigner, TransactionReverted
from contracts.chain.domain import LotKind, Role
from tests.contracts.consortium import H1, H2, Consortium

pytestmark = pytest.mark.chain

ZERO_ADDRESS = "0x" + "00" * 20

ZERO32 = b"\x00" * 32
CUSTODIANS = int(Role.MINER | Role.MANUFACTURER | Role.DISTRIBUTOR | Role.RETAILER)


# ---------------------------------------------------------------------------- helpers


def escrow_of(c: Consortium, bundle_id: int) -> str:
    return str(c.lots.functions.bundleEscrow(bundle_id).call())


def contents_hash(lot_ids: list[int], quantities: list[int]) -> bytes:
    return bytes(Web3.keccak(encode(["uint256[]", "uint256[]"], [lot_ids, quantities])))


def pack(
    c: Consortium,
    who: LocalSigner,
    lot_ids: list[int],
    quantities: list[int],
    bundle_id: int | None = None,
) -> tuple[int, Any]:
    bundle_id = bundle_id or c.new_id()
    receipt = c.act(who, c.lots.functions.bundle(bundle_id, lot_ids, quantities, H1, H2))
    return bundle_id, receipt


def unpack(
    c: Consortium, who: LocalSigner, bundle_id: int, lot_ids: list[int], quantities: list[int]
) -> Any:
    return c.act(who, c.lots.functions.unbundle(bundle_id, lot_ids, quantities))


def pass_on(
    c: Consortium, sender: LocalSigner, receiver: LocalSigner, lot_id: int, quantity: int = 1
) -> None:
    handoff_id = c.handoff(sender, receiver, lot_id, quantity)
    c.accept(receiver, handoff_id, lot_id, sender)


def state(c: Consortium, lot_ids: Sequence[int], bundle_ids: Sequence[int] = ()) -> dict[Any, Any]:
    return c.snapshot([*lot_ids, *bundle_ids], [escrow_of(c, b) for b in bundle_ids])


def two_lots(c: Consortium, who: LocalSigner | None = None) -> tuple[int, int]:
    who = who or c.miner
    return c.register_lot(who, 1000), c.register_lot(who, 500)


def assert_refused(
    c: Consortium,
    signer: LocalSigner,
    call: Any,
    name: str,
    watched: tuple[list[int], list[int]],
    **args: Any,
) -> TransactionReverted:
    """`call` is mined, reverts with `name(**args)`, and no watched balance changed."""
    before = state(c, *watched)
    exc = c.reverts(signer, call)
    assert exc.name == name, exc
    assert exc.error is not None
    for key, value in args.items():
        assert exc.error.args[key] == value, (key, exc.error.args)
    assert state(c, *watched) == before
    return exc


# ---------------------------------------------------------------------------- bundling


def test_bundling_locks_the_contents_in_escrow_and_mints_one_bundle_token(
    consortium: Consortium,
) -> None:
    c = consortium
    a, b = two_lots(c)
    bundle_id, receipt = pack(c, c.miner, [a, b], [300, 500])
    escrow = escrow_of(c, bundle_id)

    (bundled,) = c.events(receipt, c.lots, "LotsBundled")
    assert bundled == {
        "bundleId": bundle_id,
        "holder": c.miner.address,
        "lotIds": [a, b],
        "quantities": [300, 500],
        "escrow": escrow,
    }
    (registered,) = c.events(receipt, c.lots, "LotRegistered")
    assert registered == {
        "lotId": bundle_id,
        "owner": c.miner.address,
        "kind": LotKind.BUNDLE,
        "quantity": 1,
        "metadataHash": H1,
        "gs1KeyHash": H2,
    }

    assert c.balance(c.miner, a) == 700
    assert c.balance(c.miner, b) == 0
    assert c.balance(c.miner, bundle_id) == 1
    assert c.balance(escrow, a) == 300
    assert c.balance(escrow, b) == 500
    assert c.balance(escrow, bundle_id) == 0
    assert tuple(c.lots.functions.lot(bundle_id).call()) == (LotKind.BUNDLE, False, ZERO_ADDRESS, 1)
    # The failure-path snapshot reads the same balances as `c.balances`, escrows included.
    snapshot = state(c, [a, b], [bundle_id])
    assert c.balances([a, b, bundle_id]).items() <= snapshot.items()
    assert snapshot[(escrow, a)] == 300
    assert bytes(c.lots.functions.bundleContentsHash(bundle_id).call()) == contents_hash(
        [a, b], [300, 500]
    )


def test_each_bundle_has_its_own_escrow_account(consortium: Consortium) -> None:
    c = consortium
    a, _ = two_lots(c)
    first, _ = pack(c, c.miner, [a], [100])
    second, _ = pack(c, c.miner, [a], [200])
    assert escrow_of(c, first) != escrow_of(c, second)
    assert c.balance(escrow_of(c, first), a) == 100
    assert c.balance(escrow_of(c, second), a) == 200
    assert c.balance(c.miner, a) == 700


# ---------------------------------------------------------------------------- custody


def test_handing_off_a_bundle_moves_custody_of_everything_inside(consortium: Consortium) -> None:
    c = consortium
    a, b = two_lots(c)
    bundle_id, _ = pack(c, c.miner, [a, b], [300, 500])
    escrow = escrow_of(c, bundle_id)

    pass_on(c, c.miner, c.distributor, bundle_id)

    assert c.balance(c.distributor, bundle_id) == 1
    assert c.balance(c.miner, bundle_id) == 0
    # The contents stay locked while the bundle travels.
    assert c.balance(escrow, a) == 300
    assert c.balance(escrow, b) == 500
    assert c.balance(c.distributor, a) == 0


def test_unbundling_releases_contents_to_the_holder(consortium: Consortium) -> None:
    c = consortium
    a, b = two_lots(c)
    bundle_id, _ = pack(c, c.miner, [a, b], [300, 500])
    escrow = escrow_of(c, bundle_id)
    pass_on(c, c.miner, c.distributor, bundle_id)

    receipt = unpack(c, c.distributor, bundle_id, [a, b], [300, 500])

    (event,) = c.events(receipt, c.lots, "LotsUnbundled")
    assert event == {
        "bundleId": bundle_id,
        "holder": c.distributor.address,
        "lotIds": [a, b],
        "quantities": [300, 500],
    }
    assert c.balance(c.distributor, a) == 300
    assert c.balance(c.distributor, b) == 500
    assert c.balance(c.miner, a) == 700  # what was never bundled stayed with the miner
    assert c.balance(escrow, a) == 0
    assert c.balance(escrow, b) == 0
    # The bundle token is burnt and its contents record cleared.
    assert all(v == 0 for v in c.balances([bundle_id]).values())
    assert bytes(c.lots.functions.bundleContentsHash(bundle_id).call()) == ZERO32
    assert c.lots.functions.lot(bundle_id).call()[3] == 0


def test_the_former_holder_cannot_unbundle_a_bundle_it_handed_off(consortium: Consortium) -> None:
    c = consortium
    a, b = two_lots(c)
    bundle_id, _ = pack(c, c.miner, [a, b], [300, 500])
    pass_on(c, c.miner, c.distributor, bundle_id)

    assert_refused(
        c,
        c.miner,
        c.lots.functions.unbundle(bundle_id, [a, b], [300, 500]),
        "NotLotHolder",
        ([a, b], [bundle_id]),
        lotId=bundle_id,
        account=c.miner.address,
    )


def test_a_bundle_in_escrow_of_an_open_handoff_cannot_be_unbundled_by_either_side(
    consortium: Consortium,
) -> None:
    c = consortium
    a, b = two_lots(c)
    bundle_id, _ = pack(c, c.miner, [a, b], [300, 500])
    c.handoff(c.miner, c.distributor, bundle_id, 1)

    for who in (c.miner, c.distributor):
        assert_refused(
            c,
            who,
            c.lots.functions.unbundle(bundle_id, [a, b], [300, 500]),
            "NotLotHolder",
            ([a, b], [bundle_id]),
            lotId=bundle_id,
            account=who.address,
        )


def test_nested_bundles_are_opened_outer_first_then_inner(consortium: Consortium) -> None:
    c = consortium
    a, b = two_lots(c)
    loose = c.register_lot(c.miner, 50)
    inner, _ = pack(c, c.miner, [a, b], [300, 500])
    outer, _ = pack(c, c.miner, [inner, loose], [1, 50])
    assert c.balance(escrow_of(c, outer), inner) == 1
    assert c.balance(c.miner, inner) == 0

    pass_on(c, c.miner, c.retailer, outer)

    # The inner bundle is still locked in the outer one: nobody holds it yet.
    assert_refused(
        c,
        c.retailer,
        c.lots.functions.unbundle(inner, [a, b], [300, 500]),
        "NotLotHolder",
        ([a, b, loose], [inner, outer]),
        lotId=inner,
        account=c.retailer.address,
    )

    unpack(c, c.retailer, outer, [inner, loose], [1, 50])
    assert c.balance(c.retailer, inner) == 1
    assert c.balance(c.retailer, loose) == 50
    assert c.balance(c.retailer, outer) == 0
    assert c.balance(escrow_of(c, inner), a) == 300

    unpack(c, c.retailer, inner, [a, b], [300, 500])
    assert c.balance(c.retailer, a) == 300
    assert c.balance(c.retailer, b) == 500
    assert c.balance(c.retailer, inner) == 0
    for bundle_id in (inner, outer):
        escrow = escrow_of(c, bundle_id)
        assert all(c.balance(escrow, i) == 0 for i in (a, b, loose, inner, outer))


# --------------------------------------------------------------------------- unbundling


@pytest.mark.parametrize(
    "listed",
    [
        pytest.param(lambda a, b: ([a, b], [300, 499]), id="wrong-quantity"),
        pytest.param(lambda a, b: ([a], [300]), id="missing-lot"),
        pytest.param(lambda a, b: ([b, a], [500, 300]), id="reordered"),
        pytest.param(lambda a, b: ([a, b, a], [300, 500, 1]), id="extra-entry"),
        pytest.param(lambda a, b: ([], []), id="empty"),
    ],
)
def test_unbundling_with_a_wrong_contents_list_is_refused(
    consortium: Consortium, listed: Any
) -> None:
    c = consortium
    a, b = two_lots(c)
    bundle_id, _ = pack(c, c.miner, [a, b], [300, 500])
    lot_ids, quantities = listed(a, b)

    assert_refused(
        c,
        c.miner,
        c.lots.functions.unbundle(bundle_id, lot_ids, quantities),
        "BundleContentsMismatch",
        ([a, b], [bundle_id]),
        bundleId=bundle_id,
    )
    assert c.balance(c.miner, bundle_id) == 1


def test_unbundling_a_lot_that_is_not_a_bundle_is_refused(consortium: Consortium) -> None:
    c = consortium
    a, b = two_lots(c)
    unknown = c.new_id()
    for lot_id in (a, unknown):
        assert_refused(
            c,
            c.miner,
            c.lots.functions.unbundle(lot_id, [b], [500]),
            "NotABundle",
            ([a, b], []),
            lotId=lot_id,
        )


def test_a_bundle_cannot_be_unbundled_twice(consortium: Consortium) -> None:
    c = consortium
    a, b = two_lots(c)
    bundle_id, _ = pack(c, c.miner, [a, b], [300, 500])
    unpack(c, c.miner, bundle_id, [a, b], [300, 500])

    assert_refused(
        c,
        c.miner,
        c.lots.functions.unbundle(bundle_id, [a, b], [300, 500]),
        "NotLotHolder",
        ([a, b], [bundle_id]),
        lotId=bundle_id,
        account=c.miner.address,
    )
    assert c.balance(c.miner, a) == 1000
    assert c.balance(c.miner, b) == 500


def test_a_quarantined_bundle_can_be_neither_unbundled_nor_handed_off(
    consortium: Consortium,
) -> None:
    c = consortium
    a, b = two_lots(c)
    bundle_id, _ = pack(c, c.miner, [a, b], [300, 500])
    c.act(c.reporter, c.lots.functions.setQuarantine(bundle_id, "temperature excursion"))
    watched = ([a, b], [bundle_id])

    assert_refused(
        c,
        c.miner,
        c.lots.functions.unbundle(bundle_id, [a, b], [300, 500]),
        "LotQuarantined",
        watched,
        lotId=bundle_id,
    )
    assert_refused(
        c,
        c.miner,
        c.lots.functions.initiateHandoff(bundle_id, c.distributor.address, 1),
        "LotQuarantined",
        watched,
        lotId=bundle_id,
    )
    assert c.lots.functions.counts().call()[0] == 0

    # Once cleared, the bundle opens normally.
    c.act(c.reporter, c.lots.functions.clearQuarantine(bundle_id, "within limits"))
    unpack(c, c.miner, bundle_id, [a, b], [300, 500])
    assert c.balance(c.miner, b) == 500


# ------------------------------------------------------------------- bundling refused


def test_bundling_a_quarantined_lot_is_refused(consortium: Consortium) -> None:
    c = consortium
    a, b = two_lots(c)
    c.act(c.miner, c.lots.functions.setQuarantine(b, "contamination suspected"))
    bundle_id = c.new_id()
    assert_refused(
        c,
        c.miner,
        c.lots.functions.bundle(bundle_id, [a, b], [300, 500], H1, H2),
        "LotQuarantined",
        ([a, b], [bundle_id]),
        lotId=b,
    )
    assert c.lots.functions.lot(bundle_id).call()[0] == LotKind.NONE


def test_bundling_an_unknown_lot_is_refused(consortium: Consortium) -> None:
    c = consortium
    a, _ = two_lots(c)
    unknown, bundle_id = c.new_id(), c.new_id()
    assert_refused(
        c,
        c.miner,
        c.lots.functions.bundle(bundle_id, [a, unknown], [300, 1], H1, H2),
        "UnknownLot",
        ([a, unknown], [bundle_id]),
        lotId=unknown,
    )
    assert c.lots.functions.lot(bundle_id).call()[0] == LotKind.NONE


def test_bundling_an_empty_list_is_refused(consortium: Consortium) -> None:
    c = consortium
    a, _ = two_lots(c)
    bundle_id = c.new_id()
    assert_refused(
        c,
        c.miner,
        c.lots.functions.bundle(bundle_id, [], [], H1, H2),
        "EmptyList",
        ([a], [bundle_id]),
    )
    assert c.lots.functions.lot(bundle_id).call()[0] == LotKind.NONE


def test_bundling_with_lists_of_different_lengths_is_refused(consortium: Consortium) -> None:
    c = consortium
    a, b = two_lots(c)
    bundle_id = c.new_id()
    assert_refused(
        c,
        c.miner,
        c.lots.functions.bundle(bundle_id, [a, b], [300], H1, H2),
        "LengthMismatch",
        ([a, b], [bundle_id]),
        ids=2,
        quantities=1,
    )
    assert c.lots.functions.lot(bundle_id).call()[0] == LotKind.NONE


def test_bundling_a_zero_quantity_is_refused(consortium: Consortium) -> None:
    c = consortium
    a, b = two_lots(c)
    bundle_id = c.new_id()
    assert_refused(
        c,
        c.miner,
        c.lots.functions.bundle(bundle_id, [a, b], [300, 0], H1, H2),
        "ZeroQuantity",
        ([a, b], [bundle_id]),
    )
    assert c.lots.functions.lot(bundle_id).call()[0] == LotKind.NONE


def test_bundling_more_than_the_caller_holds_is_refused(consortium: Consortium) -> None:
    c = consortium
    a, b = two_lots(c)
    bundle_id = c.new_id()
    assert_refused(
        c,
        c.miner,
        c.lots.functions.bundle(bundle_id, [a, b], [300, 501], H1, H2),
        "ERC1155InsufficientBalance",
        ([a, b], [bundle_id]),
        sender=c.miner.address,
        balance=500,
        needed=501,
        tokenId=b,
    )
    assert c.lots.functions.lot(bundle_id).call()[0] == LotKind.NONE


def test_bundling_lots_held_by_someone_else_is_refused(consortium: Consortium) -> None:
    c = consortium
    a, b = two_lots(c)
    bundle_id = c.new_id()
    assert_refused(
        c,
        c.distributor,
        c.lots.functions.bundle(bundle_id, [a], [1], H1, H2),
        "ERC1155InsufficientBalance",
        ([a, b], [bundle_id]),
        sender=c.distributor.address,
        balance=0,
        needed=1,
        tokenId=a,
    )
    assert c.lots.functions.lot(bundle_id).call()[0] == LotKind.NONE


def test_bundling_under_an_existing_lot_id_is_refused(consortium: Consortium) -> None:
    c = consortium
    a, b = two_lots(c)
    existing_bundle, _ = pack(c, c.miner, [a], [300])
    for taken in (existing_bundle, a):
        assert_refused(
            c,
            c.miner,
            c.lots.functions.bundle(taken, [b], [100], H1, H2),
            "LotAlreadyExists",
            ([a, b], [existing_bundle]),
            lotId=taken,
        )
    assert bytes(c.lots.functions.bundleContentsHash(existing_bundle).call()) == contents_hash(
        [a], [300]
    )


def test_a_certifier_cannot_bundle(consortium: Consortium) -> None:
    c = consortium
    a, _ = two_lots(c)
    bundle_id = c.new_id()
    assert_refused(
        c,
        c.certifier,
        c.lots.functions.bundle(bundle_id, [a], [1], H1, H2),
        "MissingRole",
        ([a], [bundle_id]),
        account=c.certifier.address,
        anyOfRoles=CUSTODIANS,
    )
    assert c.lots.functions.lot(bundle_id).call()[0] == LotKind.NONE


def test_strangers_and_a_paused_system_cannot_bundle_or_unbundle(consortium: Consortium) -> None:
    c = consortium
    a, b = two_lots(c)
    bundle_id, _ = pack(c, c.miner, [a], [300])
    watched = ([a, b], [bundle_id])
    assert_refused(
        c,
        c.stranger,
        c.lots.functions.bundle(c.new_id(), [a], [1], H1, H2),
        "UnknownParticipant",
        watched,
        account=c.stranger.address,
    )
    c.act(c.admin, c.lots.functions.pause())
    assert_refused(
        c, c.miner, c.lots.functions.bundle(c.new_id(), [b], [1], H1, H2), "SystemPaused", watched
    )
    assert_refused(
        c, c.miner, c.lots.functions.unbundle(bundle_id, [a], [300]), "SystemPaused", watched
    )
