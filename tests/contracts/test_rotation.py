"""Key rotation: an organisation moves to a new signing key without losing its history."""

from __future__ import annotations

from typing import Any

import pytest
from web3.types import Wei

from contracts.chain.client import LocalSigner, TransactionReverted
from contracts.chain.domain import LotKind, Role, SubjectKind, ascii32
from tests.contracts.consortium import H1, H2, Consortium

pytestmark = pytest.mark.chain

ZERO_ADDRESS = "0x" + "00" * 20
PROFILE = b"\x07" * 32
QUALITY = ascii32("QUALITY")
DOC = b"\xd0" * 32


# ---------------------------------------------------------------------------- helpers


def new_key(c: Consortium) -> LocalSigner:
    """A fresh, unregistered key with some ether for gas (py-evm charges a base fee)."""
    signer = LocalSigner.create()
    c.w3.eth.send_transaction({"from": c.admin.address, "to": signer.address, "value": Wei(10**18)})
    return signer


def rotate(c: Consortium, old: LocalSigner, new: LocalSigner | None = None) -> LocalSigner:
    new = new or new_key(c)
    c.act(c.admin, c.lots.functions.rotateParticipantKey(old.address, new.address, PROFILE))
    return new


def participant(c: Consortium, address: str) -> tuple[int, bool, bool]:
    roles, registered, active = c.lots.functions.participant(address).call()
    return int(roles), bool(registered), bool(active)


def successor_of(c: Consortium, account: LocalSigner | str) -> str:
    address = account if isinstance(account, str) else account.address
    return str(c.lots.functions.successorOf(address).call())


def acts_for(c: Consortium, account: LocalSigner, caller: LocalSigner) -> bool:
    return bool(c.lots.functions.actsFor(account.address, caller.address).call())


def log_names(c: Consortium, receipt: Any) -> list[str]:
    """The names of the Lots events in a receipt, in log order."""
    names = []
    for log in receipt["logs"]:
        for event in c.lots.abi:
            if event["type"] != "event":
                continue
            signature = f"{event['name']}({','.join(i['type'] for i in event['inputs'])})"
            if log["topics"][0] == c.w3.keccak(text=signature):
                names.append(event["name"])
    return names


def migrate(c: Consortium, who: LocalSigner, lot_ids: list[int]) -> Any:
    return c.act(who, c.lots.functions.migrateHoldings(lot_ids))


def assert_refused(
    c: Consortium,
    signer: LocalSigner,
    call: Any,
    name: str,
    lot_ids: list[int],
    accounts: list[str],
    **args: Any,
) -> TransactionReverted:
    """`call` is mined, reverts with `name(**args)`, and no balance of `lot_ids` changed."""
    before = c.snapshot(lot_ids, accounts)
    exc = c.reverts(signer, call)
    assert exc.name == name, exc
    assert exc.error is not None
    for key, value in args.items():
        assert exc.error.args[key] == value, (key, exc.error.args)
    assert c.snapshot(lot_ids, accounts) == before
    return exc


def issue(c: Consortium, who: LocalSigner, lot_id: int) -> int:
    start = int(c.w3.eth.get_block("latest")["timestamp"]) - 10
    receipt = c.act(
        who,
        c.certificates.functions.issue(
            int(SubjectKind.LOT), lot_id, QUALITY, DOC, start, start + 365 * 24 * 3600, [], []
        ),
    )
    (event,) = c.events(receipt, c.certificates, "CertificateIssued")
    return int(event["certificateId"])


# ------------------------------------------------------------------------------ rotation


def test_rotation_registers_the_successor_with_the_same_roles_and_policy(
    consortium: Consortium,
) -> None:
    c = consortium
    c.act(c.retailer, c.lots.functions.setAcceptancePolicy(QUALITY))
    new = new_key(c)

    receipt = c.act(
        c.admin, c.lots.functions.rotateParticipantKey(c.retailer.address, new.address, PROFILE)
    )

    assert log_names(c, receipt) == [
        "ParticipantRegistered",
        "AcceptancePolicySet",
        "ParticipantKeyRotated",
    ]
    (registered,) = c.events(receipt, c.lots, "ParticipantRegistered")
    assert registered == {
        "account": new.address,
        "roles": int(Role.RETAILER),
        "profileHash": PROFILE,
    }
    (policy,) = c.events(receipt, c.lots, "AcceptancePolicySet")
    assert policy == {"account": new.address, "certificateType": QUALITY}
    (rotated,) = c.events(receipt, c.lots, "ParticipantKeyRotated")
    assert rotated == {"account": c.retailer.address, "successor": new.address}
    assert participant(c, new.address) == (int(Role.RETAILER), True, True)
    assert c.lots.functions.acceptancePolicy(new.address).call() == QUALITY
    assert successor_of(c, c.retailer) == new.address
    assert successor_of(c, new) == ZERO_ADDRESS
    # The old key stays active: it still has holdings to move and handoffs to settle.
    assert participant(c, c.retailer.address) == (int(Role.RETAILER), True, True)


def test_the_successor_enforces_the_copied_acceptance_policy(consortium: Consortium) -> None:
    c = consortium
    c.act(c.retailer, c.lots.functions.setAcceptancePolicy(QUALITY))
    new = rotate(c, c.retailer)
    lot_id = c.register_lot(c.miner, 10)
    handoff_id = c.handoff(c.miner, new, lot_id, 10)

    err = c.reverts(
        new, c.lots.functions.acceptHandoff(handoff_id, lot_id, c.miner.address, new.address)
    )

    assert err.name == "MissingValidCertificate"
    assert err.error is not None
    assert err.error.args == {"lotId": lot_id, "certificateType": QUALITY}
    issue(c, c.certifier, lot_id)
    c.accept(new, handoff_id, lot_id, c.miner)
    assert c.balance(new, lot_id) == 10


def test_rotation_without_a_policy_emits_no_policy_event(consortium: Consortium) -> None:
    c = consortium
    new = new_key(c)

    receipt = c.act(
        c.admin, c.lots.functions.rotateParticipantKey(c.miner.address, new.address, PROFILE)
    )

    assert log_names(c, receipt) == ["ParticipantRegistered", "ParticipantKeyRotated"]
    assert c.lots.functions.acceptancePolicy(new.address).call() == b"\x00" * 32


@pytest.mark.parametrize("caller", ["miner", "stranger", "certifier"])
def test_only_an_admin_can_rotate_a_key(consortium: Consortium, caller: str) -> None:
    c = consortium
    signer = getattr(c, caller)
    new = new_key(c)

    err = c.reverts(
        signer, c.lots.functions.rotateParticipantKey(c.miner.address, new.address, PROFILE)
    )

    assert err.name == "AccessControlUnauthorizedAccount"
    assert err.error is not None
    assert err.error.args["account"] == signer.address
    assert participant(c, new.address) == (0, False, False)
    assert successor_of(c, c.miner) == ZERO_ADDRESS


def test_a_key_cannot_be_rotated_twice(consortium: Consortium) -> None:
    c = consortium
    first = rotate(c, c.miner)
    second = new_key(c)

    err = c.reverts(
        c.admin, c.lots.functions.rotateParticipantKey(c.miner.address, second.address, PROFILE)
    )

    assert err.name == "KeyAlreadyRotated"
    assert err.error is not None
    assert err.error.args == {"account": c.miner.address}
    assert successor_of(c, c.miner) == first.address
    assert participant(c, second.address) == (0, False, False)


def test_a_key_cannot_be_rotated_onto_a_registered_address(consortium: Consortium) -> None:
    c = consortium
    c.act(c.admin, c.lots.functions.suspendParticipant(c.maker.address, "left"))

    for taken in (c.refinery, c.maker):  # active or suspended, registered stays registered
        err = c.reverts(
            c.admin,
            c.lots.functions.rotateParticipantKey(c.miner.address, taken.address, PROFILE),
        )
        assert err.name == "ParticipantAlreadyRegistered"
        assert err.error is not None
        assert err.error.args == {"account": taken.address}

    err = c.reverts(
        c.admin, c.lots.functions.rotateParticipantKey(c.miner.address, c.miner.address, PROFILE)
    )
    assert err.name == "ParticipantAlreadyRegistered"
    assert successor_of(c, c.miner) == ZERO_ADDRESS
    assert participant(c, c.refinery.address) == (int(Role.MANUFACTURER), True, True)


def test_a_zero_successor_or_an_unknown_account_is_refused(consortium: Consortium) -> None:
    c = consortium
    new = new_key(c)

    err = c.reverts(
        c.admin, c.lots.functions.rotateParticipantKey(c.miner.address, ZERO_ADDRESS, PROFILE)
    )
    assert err.name == "ZeroAddress"

    err = c.reverts(
        c.admin, c.lots.functions.rotateParticipantKey(c.stranger.address, new.address, PROFILE)
    )
    assert err.name == "UnknownParticipant"
    assert err.error is not None
    assert err.error.args == {"account": c.stranger.address}
    assert participant(c, new.address) == (0, False, False)
    assert successor_of(c, c.miner) == ZERO_ADDRESS


def test_a_key_can_be_rotated_while_the_system_is_paused(consortium: Consortium) -> None:
    c = consortium
    c.act(c.admin, c.lots.functions.pause())

    new = rotate(c, c.distributor)

    assert successor_of(c, c.distributor) == new.address
    assert participant(c, new.address) == (int(Role.DISTRIBUTOR), True, True)


# ---------------------------------------------------------------------------- migration


def test_migration_moves_whole_balances_including_a_bundle(consortium: Consortium) -> None:
    c = consortium
    lot_a = c.register_lot(c.miner, 1000)
    lot_b = c.register_lot(c.miner, 500)
    packed = c.register_lot(c.miner, 300)
    bundle_id = c.new_id()
    c.act(c.miner, c.lots.functions.bundle(bundle_id, [packed], [300], H1, H2))
    c.act(c.miner, c.lots.functions.initiateHandoff(lot_a, c.maker.address, 400))
    new = rotate(c, c.miner)
    escrow = str(c.lots.functions.bundleEscrow(bundle_id).call())
    contents = bytes(c.lots.functions.bundleContentsHash(bundle_id).call())
    ids = [lot_a, lot_b, bundle_id]

    receipt = migrate(c, c.miner, ids)

    assert log_names(c, receipt) == ["HoldingsMigrated", "TransferBatch"]
    (migrated,) = c.events(receipt, c.lots, "HoldingsMigrated")
    assert migrated == {
        "from": c.miner.address,
        "to": new.address,
        "lotIds": ids,
        "quantities": [600, 500, 1],
    }
    (batch,) = c.events(receipt, c.lots, "TransferBatch")
    assert batch == {
        "operator": c.miner.address,
        "from": c.miner.address,
        "to": new.address,
        "ids": ids,
        "values": [600, 500, 1],
    }
    for lot_id, quantity in zip(ids, [600, 500, 1], strict=True):
        assert c.balance(c.miner, lot_id) == 0
        assert c.balance(new, lot_id) == quantity
    # The bundle's contents stay in its escrow and follow the bundle token.
    assert c.balance(escrow, packed) == 300
    assert bytes(c.lots.functions.bundleContentsHash(bundle_id).call()) == contents
    c.act(new, c.lots.functions.unbundle(bundle_id, [packed], [300]))
    assert c.balance(new, packed) == 300


def test_migrating_a_single_lot_emits_a_transfer_single(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, 70)
    new = rotate(c, c.miner)

    receipt = migrate(c, c.miner, [lot_id])

    # OpenZeppelin's _update emits TransferSingle for a one-id batch.
    assert log_names(c, receipt) == ["HoldingsMigrated", "TransferSingle"]
    (single,) = c.events(receipt, c.lots, "TransferSingle")
    assert (single["from"], single["to"], single["id"], single["value"]) == (
        c.miner.address,
        new.address,
        lot_id,
        70,
    )


def test_a_quarantined_lot_migrates_and_stays_quarantined(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, 10)
    c.act(c.reporter, c.lots.functions.setQuarantine(lot_id, "temperature"))
    new = rotate(c, c.miner)

    migrate(c, c.miner, [lot_id])

    assert c.balance(new, lot_id) == 10
    assert c.lots.functions.lot(lot_id).call() == [
        LotKind.RAW_MATERIAL,
        True,
        c.reporter.address,
        10,
    ]


def test_the_successor_of_a_custodian_lifts_the_quarantine_its_old_key_set(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, 10)
    c.act(c.miner, c.lots.functions.setQuarantine(lot_id, "contamination suspected"))
    new = rotate(c, c.miner)
    migrate(c, c.miner, [lot_id])

    receipt = c.act(new, c.lots.functions.clearQuarantine(lot_id, "lab results fine"))

    (event,) = c.events(receipt, c.lots, "QuarantineCleared")
    assert event == {
        "lotId": lot_id,
        "by": new.address,
        "setBy": c.miner.address,
        "reason": "lab results fine",
    }
    assert c.lots.functions.lot(lot_id).call()[1] is False


def test_migration_is_refused_without_a_successor(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, 10)

    assert_refused(
        c,
        c.miner,
        c.lots.functions.migrateHoldings([lot_id]),
        "NoSuccessor",
        [lot_id],
        [],
        account=c.miner.address,
    )


def test_migration_of_a_lot_not_held_is_refused_and_moves_nothing(consortium: Consortium) -> None:
    c = consortium
    held = c.register_lot(c.miner, 10)
    elsewhere = c.register_lot(c.refinery, 10)
    new = rotate(c, c.miner)
    ids = sorted([held, elsewhere])

    assert_refused(
        c,
        c.miner,
        c.lots.functions.migrateHoldings(ids),
        "NotLotHolder",
        ids,
        [new.address],
        lotId=elsewhere,
        account=c.miner.address,
    )
    assert_refused(
        c,
        c.miner,
        c.lots.functions.migrateHoldings([held, 999_999]),
        "NotLotHolder",
        ids,
        [new.address],
        lotId=999_999,
    )


def test_an_empty_migration_is_refused(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, 10)
    new = rotate(c, c.miner)

    assert_refused(
        c, c.miner, c.lots.functions.migrateHoldings([]), "EmptyList", [lot_id], [new.address]
    )


@pytest.mark.parametrize("order", ["duplicate", "descending"])
def test_a_migration_list_must_be_strictly_ascending(consortium: Consortium, order: str) -> None:
    c = consortium
    first = c.register_lot(c.miner, 10)
    second = c.register_lot(c.miner, 20)
    new = rotate(c, c.miner)
    ids = [first, first] if order == "duplicate" else [second, first]

    assert_refused(
        c,
        c.miner,
        c.lots.functions.migrateHoldings(ids),
        "LotIdsNotAscending",
        [first, second],
        [new.address],
        index=1,
    )


def test_migration_is_refused_while_paused(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, 10)
    new = rotate(c, c.miner)
    c.act(c.admin, c.lots.functions.pause())

    assert_refused(
        c,
        c.miner,
        c.lots.functions.migrateHoldings([lot_id]),
        "SystemPaused",
        [lot_id],
        [new.address],
    )


def test_a_successor_cannot_migrate_onwards_without_its_own_successor(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, 10)
    new = rotate(c, c.miner)
    migrate(c, c.miner, [lot_id])

    assert_refused(
        c,
        new,
        c.lots.functions.migrateHoldings([lot_id]),
        "NoSuccessor",
        [lot_id],
        [new.address],
        account=new.address,
    )


def test_a_non_custodian_cannot_migrate(consortium: Consortium) -> None:
    c = consortium
    rotate(c, c.certifier)

    err = c.reverts(c.certifier, c.lots.functions.migrateHoldings([1]))

    assert err.name == "MissingRole"


# ------------------------------------------------------------------ after the migration


def test_the_successor_can_hand_off_the_migrated_lot(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, 100)
    new = rotate(c, c.miner)
    migrate(c, c.miner, [lot_id])

    handoff_id = c.handoff(new, c.refinery, lot_id, 60)
    c.accept(c.refinery, handoff_id, lot_id, new)

    assert c.balance(new, lot_id) == 40
    assert c.balance(c.refinery, lot_id) == 60
    err = c.reverts(c.miner, c.lots.functions.initiateHandoff(lot_id, c.refinery.address, 1))
    assert err.name == "ERC1155InsufficientBalance"


def test_the_old_key_settles_an_open_handoff_before_it_is_retired(
    consortium: Consortium,
) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, 100)
    handoff_id = c.handoff(c.miner, c.distributor, lot_id, 30)
    new = rotate(c, c.distributor)

    c.accept(c.distributor, handoff_id, lot_id, c.miner)
    migrate(c, c.distributor, [lot_id])
    c.act(c.admin, c.lots.functions.suspendParticipant(c.distributor.address, "key rotated"))

    assert c.balance(c.distributor, lot_id) == 0
    assert c.balance(new, lot_id) == 30


def test_a_handoff_rejected_back_to_the_old_key_can_be_migrated(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, 100)
    handoff_id = c.handoff(c.miner, c.refinery, lot_id, 100)
    new = rotate(c, c.miner)

    c.act(
        c.refinery,
        c.lots.functions.rejectHandoff(
            handoff_id, lot_id, c.miner.address, c.refinery.address, "no"
        ),
    )
    migrate(c, c.miner, [lot_id])

    assert c.balance(new, lot_id) == 100


def test_a_retired_old_key_cannot_act(consortium: Consortium) -> None:
    c = consortium
    kept = c.register_lot(c.miner, 10)
    new = rotate(c, c.miner)
    c.act(c.admin, c.lots.functions.suspendParticipant(c.miner.address, "key rotated"))

    for call in (
        c.lots.functions.migrateHoldings([kept]),
        c.lots.functions.initiateHandoff(kept, c.refinery.address, 1),
        c.lots.functions.registerLot(c.new_id(), 1, int(LotKind.RAW_MATERIAL), H1, H2),
    ):
        err = c.reverts(c.miner, call)
        assert err.name == "SuspendedParticipant"
        assert err.error is not None
        assert err.error.args == {"account": c.miner.address}

    assert c.balance(c.miner, kept) == 10
    assert c.register_lot(new, 5) != 0  # the organisation carries on under its new key


# ------------------------------------------------------------------------- certificates


def test_the_issuers_successor_can_revoke_its_certificate(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, 10)
    certificate_id = issue(c, c.certifier, lot_id)
    new = rotate(c, c.certifier)
    c.act(c.admin, c.lots.functions.suspendParticipant(c.certifier.address, "key rotated"))

    receipt = c.act(new, c.certificates.functions.revoke(certificate_id, "superseded"))

    (event,) = c.events(receipt, c.certificates, "CertificateRevoked")
    # The event names the key that revoked; the issuing key stays on the certificate.
    assert event == {"certificateId": certificate_id, "issuer": new.address, "reason": "superseded"}
    issuer, _, _, revoked = c.certificates.functions.certificate(certificate_id).call()
    assert (issuer, revoked) == (c.certifier.address, True)


def test_a_stranger_cannot_revoke_a_rotated_issuers_certificate(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, 10)
    certificate_id = issue(c, c.certifier, lot_id)
    rotate(c, c.certifier)
    other = new_key(c)
    c.act(
        c.admin,
        c.lots.functions.registerParticipant(other.address, int(Role.CERTIFIER), PROFILE),
    )

    err = c.reverts(other, c.certificates.functions.revoke(certificate_id, "no"))
    assert err.name == "NotCertificateIssuer"
    assert err.error is not None
    assert err.error.args == {"certificateId": certificate_id, "caller": other.address}

    err = c.reverts(c.stranger, c.certificates.functions.revoke(certificate_id, "no"))
    assert err.name == "UnknownParticipant"
    assert c.certificates.functions.isValid(certificate_id).call() is True


def test_an_old_key_cannot_revoke_its_successors_certificate(consortium: Consortium) -> None:
    c = consortium
    lot_id = c.register_lot(c.miner, 10)
    new = rotate(c, c.certifier)
    certificate_id = issue(c, new, lot_id)

    err = c.reverts(c.certifier, c.certificates.functions.revoke(certificate_id, "no"))

    assert err.name == "NotCertificateIssuer"
    assert c.certificates.functions.isValid(certificate_id).call() is True


# -------------------------------------------------------------------------------- actsFor


def test_acts_for_follows_a_chain_of_two_rotations(consortium: Consortium) -> None:
    c = consortium
    second = rotate(c, c.certifier)
    third = rotate(c, second)
    first = c.certifier

    assert successor_of(c, first) == second.address
    assert successor_of(c, second) == third.address
    assert acts_for(c, first, first)
    assert acts_for(c, first, second)
    assert acts_for(c, first, third)
    assert acts_for(c, second, third)
    assert not acts_for(c, second, first)
    assert not acts_for(c, third, first)
    assert not acts_for(c, third, second)
    assert not acts_for(c, first, c.stranger)
    assert not acts_for(c, c.miner, third)
    # The last key of the chain revokes what the first one issued.
    certificate_id = issue(c, first, c.register_lot(c.miner, 10))
    c.act(third, c.certificates.functions.revoke(certificate_id, "superseded"))
    assert c.certificates.functions.isValid(certificate_id).call() is False


def test_acts_for_follows_at_most_the_maximum_succession_depth(consortium: Consortium) -> None:
    c = consortium
    depth = int(c.lots.functions.MAX_SUCCESSION_DEPTH().call())
    keys = [c.certifier.address]
    for _ in range(depth + 1):
        successor = LocalSigner.create().address  # registered only: it never signs
        c.act(c.admin, c.lots.functions.rotateParticipantKey(keys[-1], successor, PROFILE))
        keys.append(successor)

    assert c.lots.functions.actsFor(keys[0], keys[depth]).call() is True
    assert c.lots.functions.actsFor(keys[0], keys[depth + 1]).call() is False
    assert c.lots.functions.actsFor(keys[1], keys[depth + 1]).call() is True
