"""Participants: onboarding, roles, suspension, the emergency pause and the default admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from web3 import Web3

from contracts.chain.deploy import DEFAULT_ADMIN_TRANSFER_DELAY
from contracts.chain.domain import LotKind, Role, SubjectKind, ascii32
from tests.contracts.consortium import H1, H2, Consortium

pytestmark = pytest.mark.chain


ZERO_ADDRESS = "0x" + "00" * 20
ADMIN_ROLE = Web3.keccak(text="ADMIN")
DEFAULT_ADMIN_ROLE = b"\x00" * 32
PROFILE = b"\x07" * 32
ALL_ROLES = (1 << 7) - 1
CUSTODIANS = int(Role.MINER | Role.MANUFACTURER | Role.DISTRIBUTOR | Role.RETAILER)
PRODUCERS = int(Role.MINER | Role.MANUFACTURER)


def participant(c: Consortium, address: str) -> tuple[int, bool, bool]:
    roles, registered, active = c.lots.functions.participant(address).call()
    return int(roles), bool(registered), bool(active)


def register_lot_call(c: Consortium, lot_id: int, quantity: int = 1000) -> Any:
    return c.lots.functions.registerLot(lot_id, quantity, int(LotKind.RAW_MATERIAL), H1, H2)


def latest_timestamp(c: Consortium) -> int:
    return int(c.w3.eth.get_block("latest")["timestamp"])


# ------------------------------------------------------------------------------ onboarding


def test_admin_onboards_a_participant_with_roles_and_profile(consortium: Consortium) -> None:
    c = consortium
    roles = int(Role.DISTRIBUTOR | Role.RETAILER)
    assert participant(c, c.stranger.address) == (0, False, False)

    receipt = c.act(
        c.admin, c.lots.functions.registerParticipant(c.stranger.address, roles, PROFILE)
    )

    (event,) = c.events(receipt, c.lots, "ParticipantRegistered")
    assert event == {"account": c.stranger.address, "roles": roles, "profileHash": PROFILE}
    assert participant(c, c.stranger.address) == (roles, True, True)
    assert c.lots.functions.isRegistered(c.stranger.address).call() is True


def test_an_onboarded_participant_can_act_at_once(consortium: Consortium) -> None:
    c = consortium
    c.act(
        c.admin,
        c.lots.functions.registerParticipant(c.stranger.address, int(Role.MINER), PROFILE),
    )

    lot_id = c.register_lot(c.stranger, quantity=5)

    assert c.balance(c.stranger, lot_id) == 5


def test_the_consortium_members_are_registered_with_their_roles(consortium: Consortium) -> None:
    c = consortium
    assert participant(c, c.miner.address) == (int(Role.MINER), True, True)
    assert participant(c, c.certifier.address) == (int(Role.CERTIFIER), True, True)
    assert participant(c, c.reporter.address) == (int(Role.REPORTER), True, True)
    assert c.lots.functions.isRegistered(c.stranger.address).call() is False


def test_non_admin_cannot_register_a_participant(consortium: Consortium) -> None:
    c = consortium

    err = c.reverts(
        c.miner,
        c.lots.functions.registerParticipant(c.stranger.address, int(Role.MINER), PROFILE),
    )

    assert err.name == "AccessControlUnauthorizedAccount"
    assert err.error.args == {"account": c.miner.address, "neededRole": ADMIN_ROLE}
    assert participant(c, c.stranger.address) == (0, False, False)


def test_an_unregistered_account_cannot_register_itself(consortium: Consortium) -> None:
    c = consortium

    err = c.reverts(
        c.stranger,
        c.lots.functions.registerParticipant(c.stranger.address, int(Role.MINER), PROFILE),
    )

    assert err.name == "AccessControlUnauthorizedAccount"
    assert err.error.args["account"] == c.stranger.address
    assert participant(c, c.stranger.address) == (0, False, False)


@pytest.mark.parametrize(
    "admin_call",
    [
        lambda c: c.lots.functions.setParticipantRoles(c.miner.address, int(Role.RETAILER)),
        lambda c: c.lots.functions.suspendParticipant(c.miner.address, "no"),
        lambda c: c.lots.functions.reactivateParticipant(c.miner.address),
        lambda c: c.lots.functions.pause(),
        lambda c: c.lots.functions.unpause(),
        lambda c: c.lots.functions.setCertificatesContract(c.stranger.address),
    ],
    ids=["setParticipantRoles", "suspend", "reactivate", "pause", "unpause", "setCertificates"],
)
def test_participants_cannot_use_admin_functions(
    consortium: Consortium, admin_call: Callable[[Consortium], Any]
) -> None:
    c = consortium

    err = c.reverts(c.retailer, admin_call(c))

    assert err.name == "AccessControlUnauthorizedAccount"
    assert err.error.args == {"account": c.retailer.address, "neededRole": ADMIN_ROLE}
    assert participant(c, c.miner.address) == (int(Role.MINER), True, True)
    assert c.lots.functions.paused().call() is False
    assert c.lots.functions.certificates().call() == c.certificates.address


def test_zero_address_cannot_be_registered(consortium: Consortium) -> None:
    c = consortium

    err = c.reverts(
        c.admin, c.lots.functions.registerParticipant(ZERO_ADDRESS, int(Role.MINER), PROFILE)
    )

    assert err.name == "ZeroAddress"
    assert participant(c, ZERO_ADDRESS) == (0, False, False)


@pytest.mark.parametrize(
    "roles", [0, 1 << 7, (1 << 7) | int(Role.MINER), 2**32 - 1], ids=["empty", "bit7", "mix", "all"]
)
def test_an_empty_or_out_of_range_role_mask_is_refused(consortium: Consortium, roles: int) -> None:
    c = consortium

    err = c.reverts(
        c.admin, c.lots.functions.registerParticipant(c.stranger.address, roles, PROFILE)
    )

    assert err.name == "InvalidRoles"
    assert err.error.args == {"roles": roles}
    assert participant(c, c.stranger.address) == (0, False, False)


def test_every_business_role_at_once_is_a_valid_mask(consortium: Consortium) -> None:
    c = consortium

    c.act(c.admin, c.lots.functions.registerParticipant(c.stranger.address, ALL_ROLES, PROFILE))

    assert participant(c, c.stranger.address) == (ALL_ROLES, True, True)


def test_a_participant_cannot_be_registered_twice(consortium: Consortium) -> None:
    c = consortium

    err = c.reverts(
        c.admin,
        c.lots.functions.registerParticipant(c.miner.address, int(Role.RETAILER), PROFILE),
    )

    assert err.name == "ParticipantAlreadyRegistered"
    assert err.error.args == {"account": c.miner.address}
    assert participant(c, c.miner.address) == (int(Role.MINER), True, True)


def test_a_suspended_participant_cannot_be_registered_again(consortium: Consortium) -> None:
    c = consortium
    c.act(c.admin, c.lots.functions.suspendParticipant(c.miner.address, "audit"))

    err = c.reverts(
        c.admin,
        c.lots.functions.registerParticipant(c.miner.address, int(Role.MINER), PROFILE),
    )

    assert err.name == "ParticipantAlreadyRegistered"
    assert participant(c, c.miner.address) == (int(Role.MINER), True, False)


# ------------------------------------------------------------------- suspension and roles


def test_suspended_participant_cannot_register_lots(consortium: Consortium) -> None:
    c = consortium
    held = c.register_lot(c.miner, quantity=10)

    receipt = c.act(c.admin, c.lots.functions.suspendParticipant(c.miner.address, "key leaked"))

    (event,) = c.events(receipt, c.lots, "ParticipantSuspended")
    assert event == {"account": c.miner.address, "reason": "key leaked"}
    assert participant(c, c.miner.address) == (int(Role.MINER), True, False)

    lot_id = c.new_id()
    before = c.balances([held, lot_id])
    err = c.reverts(c.miner, register_lot_call(c, lot_id))

    assert err.name == "SuspendedParticipant"
    assert err.error.args == {"account": c.miner.address}
    assert c.balances([held, lot_id]) == before
    assert c.lots.functions.lotExists(lot_id).call() is False


def test_a_suspended_participant_cannot_hand_off(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner)
    c.act(c.admin, c.lots.functions.suspendParticipant(c.miner.address, "audit"))
    before = c.balances([lot_id])

    err = c.reverts(c.miner, c.lots.functions.initiateHandoff(lot_id, c.refinery.address, 10))

    assert err.name == "SuspendedParticipant"
    assert err.error.args == {"account": c.miner.address}
    assert c.balances([lot_id]) == before


def test_suspending_a_suspended_participant_is_refused(consortium: Consortium) -> None:
    c = consortium
    c.act(c.admin, c.lots.functions.suspendParticipant(c.miner.address, "audit"))

    err = c.reverts(c.admin, c.lots.functions.suspendParticipant(c.miner.address, "again"))

    assert err.name == "SuspendedParticipant"
    assert err.error.args == {"account": c.miner.address}
    assert participant(c, c.miner.address) == (int(Role.MINER), True, False)


def test_reactivated_participant_can_act_again(consortium: Consortium) -> None:
    c = consortium
    c.act(c.admin, c.lots.functions.suspendParticipant(c.miner.address, "audit"))

    receipt = c.act(c.admin, c.lots.functions.reactivateParticipant(c.miner.address))

    (event,) = c.events(receipt, c.lots, "ParticipantReactivated")
    assert event == {"account": c.miner.address}
    assert participant(c, c.miner.address) == (int(Role.MINER), True, True)
    lot_id = c.register_lot(c.miner, quantity=3)
    assert c.balance(c.miner, lot_id) == 3


def test_reactivating_an_active_participant_is_refused(consortium: Consortium) -> None:
    c = consortium

    err = c.reverts(c.admin, c.lots.functions.reactivateParticipant(c.miner.address))

    assert err.name == "ParticipantAlreadyActive"
    assert err.error.args == {"account": c.miner.address}
    assert participant(c, c.miner.address) == (int(Role.MINER), True, True)


def test_admin_replaces_a_participants_roles(consortium: Consortium) -> None:
    c = consortium
    new_roles = int(Role.MANUFACTURER | Role.DISTRIBUTOR)

    receipt = c.act(c.admin, c.lots.functions.setParticipantRoles(c.distributor.address, new_roles))

    (event,) = c.events(receipt, c.lots, "ParticipantRolesChanged")
    assert event == {"account": c.distributor.address, "roles": new_roles}
    assert participant(c, c.distributor.address) == (new_roles, True, True)
    lot_id = c.register_lot(c.distributor, quantity=7)
    assert c.balance(c.distributor, lot_id) == 7


def test_a_role_taken_away_can_no_longer_be_used(consortium: Consortium) -> None:
    c = consortium
    c.act(c.admin, c.lots.functions.setParticipantRoles(c.miner.address, int(Role.AUDITOR)))
    lot_id = c.new_id()

    err = c.reverts(c.miner, register_lot_call(c, lot_id))

    assert err.name == "MissingRole"
    assert err.error.args == {"account": c.miner.address, "anyOfRoles": PRODUCERS}
    assert c.lots.functions.lotExists(lot_id).call() is False


def test_setting_an_invalid_role_mask_is_refused(consortium: Consortium) -> None:
    c = consortium

    err = c.reverts(c.admin, c.lots.functions.setParticipantRoles(c.miner.address, 0))

    assert err.name == "InvalidRoles"
    assert err.error.args == {"roles": 0}
    assert participant(c, c.miner.address) == (int(Role.MINER), True, True)


@pytest.mark.parametrize(
    "admin_call",
    [
        lambda c: c.lots.functions.setParticipantRoles(c.stranger.address, int(Role.MINER)),
        lambda c: c.lots.functions.suspendParticipant(c.stranger.address, "who?"),
        lambda c: c.lots.functions.reactivateParticipant(c.stranger.address),
    ],
    ids=["setParticipantRoles", "suspend", "reactivate"],
)
def test_admin_functions_on_an_unknown_participant_are_refused(
    consortium: Consortium, admin_call: Callable[[Consortium], Any]
) -> None:
    c = consortium

    err = c.reverts(c.admin, admin_call(c))

    assert err.name == "UnknownParticipant"
    assert err.error.args == {"account": c.stranger.address}
    assert participant(c, c.stranger.address) == (0, False, False)


def test_an_unknown_participant_cannot_register_lots(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.new_id()

    err = c.reverts(c.stranger, register_lot_call(c, lot_id))

    assert err.name == "UnknownParticipant"
    assert err.error.args == {"account": c.stranger.address}
    assert c.lots.functions.lotExists(lot_id).call() is False
    assert c.balance(c.stranger, lot_id) == 0


def test_a_distributor_cannot_register_lots(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.new_id()

    err = c.reverts(c.distributor, register_lot_call(c, lot_id))

    assert err.name == "MissingRole"
    assert err.error.args == {"account": c.distributor.address, "anyOfRoles": PRODUCERS}
    assert c.lots.functions.lotExists(lot_id).call() is False
    assert c.balances([lot_id]) == {k: 0 for k in c.balances([lot_id])}


def test_a_certifier_cannot_declare_an_acceptance_policy(consortium: Consortium) -> None:
    c = consortium

    err = c.reverts(c.certifier, c.lots.functions.setAcceptancePolicy(ascii32("QUALITY")))

    assert err.name == "MissingRole"
    assert err.error.args == {"account": c.certifier.address, "anyOfRoles": CUSTODIANS}
    assert c.lots.functions.acceptancePolicy(c.certifier.address).call() == b"\x00" * 32


# ------------------------------------------------------------------------------- pause


def _paused_world(c: Consortium) -> dict[str, Any]:
    """A lot held by the miner, an open handoff of part of it, then the system paused."""
    lot_id = c.register_lot(c.miner, quantity=1000)
    handoff_id = c.handoff(c.miner, c.refinery, lot_id, 100)
    escrow = c.lots.functions.handoffEscrow(handoff_id, c.miner.address, c.refinery.address).call()
    receipt = c.act(c.admin, c.lots.functions.pause())
    (event,) = c.events(receipt, c.lots, "Paused")
    assert event == {"by": c.admin.address}
    assert c.lots.functions.paused().call() is True
    return {"lot": lot_id, "handoff": handoff_id, "escrow": escrow}


PAUSED_ACTIONS: dict[str, tuple[str, Callable[[Consortium, dict[str, Any]], Any]]] = {
    "registerLot": ("maker", lambda c, w: register_lot_call(c, 999_999)),
    "initiateHandoff": (
        "miner",
        lambda c, w: c.lots.functions.initiateHandoff(w["lot"], c.refinery.address, 10),
    ),
    "acceptHandoff": (
        "refinery",
        lambda c, w: c.lots.functions.acceptHandoff(
            w["handoff"], w["lot"], c.miner.address, c.refinery.address
        ),
    ),
    "rejectHandoff": (
        "refinery",
        lambda c, w: c.lots.functions.rejectHandoff(
            w["handoff"], w["lot"], c.miner.address, c.refinery.address, "no"
        ),
    ),
    "cancelHandoff": (
        "miner",
        lambda c, w: c.lots.functions.cancelHandoff(
            w["handoff"], w["lot"], c.miner.address, c.refinery.address
        ),
    ),
    "setQuarantine": ("reporter", lambda c, w: c.lots.functions.setQuarantine(w["lot"], "hot")),
    "bundle": (
        "miner",
        lambda c, w: c.lots.functions.bundle(999_998, [w["lot"]], [5], H1, H2),
    ),
    "transform": (
        "miner",
        lambda c, w: c.lots.functions.transform(
            [w["lot"]], [5], [(999_997, 5, int(LotKind.COMPONENT), H1, H2)], H1
        ),
    ),
    "setAcceptancePolicy": (
        "refinery",
        lambda c, w: c.lots.functions.setAcceptancePolicy(ascii32("QUALITY")),
    ),
    "certificates.issue": (
        "certifier",
        lambda c, w: c.certificates.functions.issue(
            int(SubjectKind.LOT), w["lot"], ascii32("QUALITY"), H1, 1, 2**39, [], []
        ),
    ),
    "anchors.anchor": (
        "reporter",
        lambda c, w: c.anchors.functions.anchor(H2, ascii32("SENSOR_READINGS"), 3, "ipfs://x"),
    ),
}


def test_while_paused_every_business_action_reverts_and_nothing_changes(
    consortium: Consortium,
) -> None:
    c = consortium
    world = _paused_world(c)
    lots = [world["lot"], 999_999, 999_998, 999_997]
    before = c.balances(lots)

    for action, (who, build) in PAUSED_ACTIONS.items():
        err = c.reverts(c.members[who], build(c, world))
        assert err.name == "SystemPaused", action

    assert c.balances(lots) == before
    assert c.balance(world["escrow"], world["lot"]) == 100
    assert c.lots.functions.lot(world["lot"]).call() == [
        int(LotKind.RAW_MATERIAL),
        False,
        ZERO_ADDRESS,
        1000,
    ]
    for lot_id in lots[1:]:
        assert c.lots.functions.lotExists(lot_id).call() is False
    assert c.lots.functions.counts().call() == [1, 0]
    assert c.certificates.functions.certificateCount().call() == 0
    assert c.anchors.functions.anchoredAt(c.reporter.address, H2).call() == 0
    assert c.lots.functions.acceptancePolicy(c.refinery.address).call() == b"\x00" * 32


def test_after_unpause_business_resumes(consortium: Consortium) -> None:
    c = consortium
    world = _paused_world(c)

    receipt = c.act(c.admin, c.lots.functions.unpause())

    (event,) = c.events(receipt, c.lots, "Unpaused")
    assert event == {"by": c.admin.address}
    assert c.lots.functions.paused().call() is False
    c.accept(c.refinery, world["handoff"], world["lot"], c.miner)
    assert c.balance(c.refinery, world["lot"]) == 100
    assert c.balance(c.miner, world["lot"]) == 900
    c.act(c.reporter, c.anchors.functions.anchor(H2, ascii32("SENSOR_READINGS"), 3, "ipfs://x"))
    assert c.anchors.functions.anchoredAt(c.reporter.address, H2).call() != 0


def test_pausing_twice_is_refused(consortium: Consortium) -> None:
    c = consortium
    c.act(c.admin, c.lots.functions.pause())

    err = c.reverts(c.admin, c.lots.functions.pause())

    assert err.name == "SystemPaused"
    assert c.lots.functions.paused().call() is True


def test_unpausing_a_running_system_is_refused(consortium: Consortium) -> None:
    c = consortium

    err = c.reverts(c.admin, c.lots.functions.unpause())

    assert err.name == "SystemNotPaused"
    assert c.lots.functions.paused().call() is False


def test_participant_administration_still_works_while_paused(consortium: Consortium) -> None:
    c = consortium
    c.act(c.admin, c.lots.functions.pause())

    c.act(
        c.admin,
        c.lots.functions.registerParticipant(c.stranger.address, int(Role.RETAILER), PROFILE),
    )
    c.act(c.admin, c.lots.functions.suspendParticipant(c.miner.address, "compromised key"))
    c.act(c.admin, c.lots.functions.setParticipantRoles(c.refinery.address, int(Role.MINER)))
    c.act(c.admin, c.lots.functions.suspendParticipant(c.maker.address, "audit"))
    c.act(c.admin, c.lots.functions.reactivateParticipant(c.maker.address))

    assert participant(c, c.stranger.address) == (int(Role.RETAILER), True, True)
    assert participant(c, c.miner.address) == (int(Role.MINER), True, False)
    assert participant(c, c.refinery.address) == (int(Role.MINER), True, True)
    assert participant(c, c.maker.address) == (int(Role.MANUFACTURER), True, True)
    assert c.lots.functions.paused().call() is True


# -------------------------------------------------------------------- default admin


def test_default_admin_is_the_deployer_with_a_two_day_delay(consortium: Consortium) -> None:
    c = consortium
    assert c.lots.functions.defaultAdmin().call() == c.admin.address
    assert c.lots.functions.owner().call() == c.admin.address
    assert c.lots.functions.defaultAdminDelay().call() == DEFAULT_ADMIN_TRANSFER_DELAY == 2 * 86400
    assert c.lots.functions.hasRole(ADMIN_ROLE, c.admin.address).call() is True
    assert c.lots.functions.getRoleAdmin(ADMIN_ROLE).call() == DEFAULT_ADMIN_ROLE


def test_default_admin_transfer_is_two_step_and_delayed(consortium: Consortium) -> None:
    c = consortium
    new_admin = c.stranger

    begin = c.act(c.admin, c.lots.functions.beginDefaultAdminTransfer(new_admin.address))

    begun_at = int(c.w3.eth.get_block(begin["blockNumber"])["timestamp"])
    pending, schedule = c.lots.functions.pendingDefaultAdmin().call()
    assert pending == new_admin.address
    assert schedule == begun_at + DEFAULT_ADMIN_TRANSFER_DELAY

    early = c.reverts(new_admin, c.lots.functions.acceptDefaultAdminTransfer())
    assert early.name == "AccessControlEnforcedDefaultAdminDelay"
    assert early.error.args == {"schedule": schedule}
    assert c.lots.functions.defaultAdmin().call() == c.admin.address

    c.w3.provider.ethereum_tester.time_travel(schedule + 10)  # type: ignore[attr-defined]
    assert latest_timestamp(c) >= schedule
    c.act(new_admin, c.lots.functions.acceptDefaultAdminTransfer())

    assert c.lots.functions.defaultAdmin().call() == new_admin.address
    assert c.lots.functions.owner().call() == new_admin.address
    assert c.lots.functions.hasRole(DEFAULT_ADMIN_ROLE, new_admin.address).call() is True
    assert c.lots.functions.hasRole(DEFAULT_ADMIN_ROLE, c.admin.address).call() is False
    assert c.lots.functions.pendingDefaultAdmin().call() == [ZERO_ADDRESS, 0]

    # The new default admin governs ADMIN_ROLE: it takes over the consortium administration.
    c.act(new_admin, c.lots.functions.grantRole(ADMIN_ROLE, new_admin.address))
    c.act(new_admin, c.lots.functions.revokeRole(ADMIN_ROLE, c.admin.address))
    c.act(
        new_admin,
        c.lots.functions.registerParticipant(new_admin.address, int(Role.AUDITOR), PROFILE),
    )
    err = c.reverts(c.admin, c.lots.functions.pause())
    assert err.name == "AccessControlUnauthorizedAccount"


def test_only_the_pending_admin_can_accept_the_transfer(consortium: Consortium) -> None:
    c = consortium
    c.act(c.admin, c.lots.functions.beginDefaultAdminTransfer(c.stranger.address))
    _, schedule = c.lots.functions.pendingDefaultAdmin().call()
    c.w3.provider.ethereum_tester.time_travel(schedule + 10)  # type: ignore[attr-defined]

    err = c.reverts(c.miner, c.lots.functions.acceptDefaultAdminTransfer())

    assert err.name == "AccessControlInvalidDefaultAdmin"
    assert err.error.args == {"defaultAdmin": c.miner.address}
    assert c.lots.functions.defaultAdmin().call() == c.admin.address


def test_only_the_default_admin_can_begin_a_transfer(consortium: Consortium) -> None:
    c = consortium

    err = c.reverts(c.miner, c.lots.functions.beginDefaultAdminTransfer(c.miner.address))

    assert err.name == "AccessControlUnauthorizedAccount"
    assert err.error.args == {"account": c.miner.address, "neededRole": DEFAULT_ADMIN_ROLE}
    assert c.lots.functions.pendingDefaultAdmin().call() == [ZERO_ADDRESS, 0]


def test_default_admin_role_cannot_be_granted_directly(consortium: Consortium) -> None:
    c = consortium

    err = c.reverts(c.admin, c.lots.functions.grantRole(DEFAULT_ADMIN_ROLE, c.stranger.address))

    assert err.name == "AccessControlEnforcedDefaultAdminRules"
    assert c.lots.functions.hasRole(DEFAULT_ADMIN_ROLE, c.stranger.address).call() is False


# ---------------------------------------------------------------- ERC-1155 transfers


@pytest.mark.parametrize(
    "build",
    [
        lambda c, lot: c.lots.functions.safeTransferFrom(
            c.miner.address, c.refinery.address, lot, 10, b""
        ),
        lambda c, lot: c.lots.functions.safeBatchTransferFrom(
            c.miner.address, c.refinery.address, [lot], [10], b""
        ),
        lambda c, lot: c.lots.functions.setApprovalForAll(c.refinery.address, True),
    ],
    ids=["safeTransferFrom", "safeBatchTransferFrom", "setApprovalForAll"],
)
def test_plain_erc1155_transfers_and_approvals_are_disabled(
    consortium: Consortium, build: Callable[[Consortium, int], Any]
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, quantity=100)
    before = c.balances([lot_id])

    err = c.reverts(c.miner, build(c, lot_id))

    assert err.name == "DirectTransfersDisabled"
    assert c.balances([lot_id]) == before
    assert c.balance(c.miner, lot_id) == 100
    assert c.lots.functions.isApprovedForAll(c.miner.address, c.refinery.address).call() is False
