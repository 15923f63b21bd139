"""Each projector handler on hand-built stored events (no chain, database only): the rows
it projects, an entity touched several times in one batch, a batch against versions
stored by an earlier batch, and a rollback."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from webapp.chain.models import ChainEvent
from webapp.projections.models import (
    VERSIONED,
    Balance,
    BundleContent,
    CertificateVersion,
    HandoffVersion,
    LotVersion,
    ParticipantVersion,
    TransformationEdge,
)
from webapp.projections.projector import Projector

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

CHAIN = 31337
MAKER = "0x" + "11" * 20
TAKER = "0x" + "22" * 20
ESCROW = "0x" + "33" * 20
REPORTER = "0x" + "44" * 20
ZERO = "0x" + "00" * 20
H = "0x" + "ab" * 32
_tx = itertools.count(1)


def stored(block: int, log: int, name: str, chain: int = CHAIN, **args: Any) -> ChainEvent:
    """An event row as the indexer would store it."""
    return ChainEvent.objects.create(
        chain_id=chain, block_number=block, block_hash=f"0x{block:064x}",
        block_timestamp=datetime.now(UTC), transaction_hash=f"0x{next(_tx):064x}",
        transaction_index=0, log_index=log, contract="Lots", address=MAKER, event=name,
        args=args, content_hash="0x", running_hash="0x",
    )  # fmt: skip


def lot(block: int, lot_id: int, quantity: int = 100, chain: int = CHAIN) -> None:
    stored(block, 0, "LotRegistered", chain, lotId=lot_id, owner=MAKER, kind=1,
           quantity=quantity, metadataHash=H, gs1KeyHash=H)  # fmt: skip
    move(block, 1, lot_id, ZERO, MAKER, quantity, chain)


def move(
    block: int, log: int, lot_id: int, sender: str, to: str, qty: int, chain: int = CHAIN
) -> None:
    stored(block, log, "TransferSingle", chain, operator=MAKER, id=lot_id, value=qty,
           to=to, **{"from": sender})  # fmt: skip


def handoff(block: int, handoff_id: int, lot_id: int, qty: int, chain: int = CHAIN) -> None:
    stored(block, 0, "HandoffInitiated", chain, handoffId=handoff_id, lotId=lot_id,
           sender=MAKER, receiver=TAKER, quantity=qty, escrow=ESCROW)  # fmt: skip
    move(block, 1, lot_id, MAKER, ESCROW, qty, chain)


def settle(
    block: int, name: str, handoff_id: int, lot_id: int, qty: int, chain: int = CHAIN
) -> None:
    reason = {} if name in ("HandoffAccepted", "HandoffCancelled") else {"reason": "damaged"}
    stored(block, 0, name, chain, handoffId=handoff_id, lotId=lot_id, sender=MAKER,
           receiver=TAKER, quantity=qty, **reason)  # fmt: skip
    move(block, 1, lot_id, ESCROW, TAKER if name == "HandoffAccepted" else MAKER, qty, chain)


def quarantine(block: int, lot_id: int, on: bool, chain: int = CHAIN) -> None:
    if on:
        stored(block, 0, "QuarantineSet", chain, lotId=lot_id, by=REPORTER, authority=1,
               reason="too warm")  # fmt: skip
    else:
        stored(block, 0, "QuarantineCleared", chain, lotId=lot_id, by=REPORTER,
               setBy=REPORTER, reason="fine")  # fmt: skip


def project(chain: int = CHAIN, batch: int = 2000) -> None:
    Projector(chain).apply_pending(batch=batch)


def balances(lot_id: int) -> dict[str, int]:
    rows = Balance.objects.filter(chain_id=CHAIN, lot_id=lot_id, block_to__isnull=True)
    return {r.holder: int(r.quantity) for r in rows}


def history(model: Any, **key: Any) -> list[tuple[int, int | None]]:
    rows = model.objects.filter(chain_id=CHAIN, **key).order_by("block_from", "log_from")
    return [(r.block_from, r.block_to) for r in rows]


def snapshot(chain: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every projected row of a chain, without ids (comparable across chains)."""
    found = {}
    for model in VERSIONED:
        names = [
            f.attname for f in model._meta.concrete_fields if f.attname not in ("id", "chain_id")
        ]
        rows = model.objects.filter(chain_id=chain).values_list(*names)
        found[model.__name__] = sorted(tuple(map(str, row)) for row in rows)
    return found


# ------------------------------------------------------------------------ participants


def test_participant_events_version_the_participant_in_one_batch() -> None:
    stored(1, 0, "ParticipantRegistered", account=MAKER, roles=2, profileHash=H)
    stored(2, 0, "ParticipantRolesChanged", account=MAKER, roles=6)
    stored(3, 0, "ParticipantSuspended", account=MAKER, reason="audit")
    stored(4, 0, "ParticipantReactivated", account=MAKER)
    stored(5, 0, "AcceptancePolicySet", account=MAKER, certificateType=H)
    project()
    now = ParticipantVersion.objects.get(chain_id=CHAIN, account=MAKER, block_to__isnull=True)
    assert (now.roles, now.active, now.acceptance_policy, now.profile_hash) == (6, True, H, H)
    assert history(ParticipantVersion) == [(1, 2), (2, 3), (3, 4), (4, 5), (5, None)]
    suspended = ParticipantVersion.objects.get(chain_id=CHAIN, block_from=3)
    assert not suspended.active
    assert suspended.roles == 6


def test_a_zero_acceptance_policy_clears_it_on_a_stored_participant() -> None:
    stored(1, 0, "ParticipantRegistered", account=MAKER, roles=2, profileHash=H)
    stored(2, 0, "AcceptancePolicySet", account=MAKER, certificateType=H)
    project()
    stored(3, 0, "AcceptancePolicySet", account=MAKER, certificateType="0x" + "00" * 32)
    project()
    now = ParticipantVersion.objects.get(chain_id=CHAIN, block_to__isnull=True)
    assert now.acceptance_policy == ""
    assert now.roles == 2
    assert history(ParticipantVersion) == [(1, 2), (2, 3), (3, None)]


# ------------------------------------------------------------------------ lots, balances


def test_a_lot_registered_handed_off_and_quarantined_in_one_batch() -> None:
    lot(1, 7, quantity=100)
    handoff(2, 1, 7, 40)
    settle(3, "HandoffAccepted", 1, 7, 40)
    quarantine(4, 7, on=True)
    quarantine(5, 7, on=False)
    quarantine(6, 7, on=True)
    project()
    assert balances(7) == {MAKER: 60, TAKER: 40}  # the escrow's balance was closed at 0
    assert history(Balance, lot_id=7, holder=ESCROW) == [(2, 3)]
    assert history(Balance, lot_id=7, holder=MAKER) == [(1, 2), (2, None)]
    now = LotVersion.objects.get(chain_id=CHAIN, lot_id=7, block_to__isnull=True)
    assert (now.quarantined, now.quarantine_reason, now.quarantined_by) == (
        True, "too warm", REPORTER,
    )  # fmt: skip
    assert (now.creator, int(now.quantity), now.kind) == (MAKER, 100, 1)
    assert history(LotVersion, lot_id=7) == [(1, 4), (4, 5), (5, 6), (6, None)]
    handoffs = HandoffVersion.objects.filter(chain_id=CHAIN, handoff_id=1).order_by("block_from")
    assert [(h.status, h.block_to) for h in handoffs] == [("open", 3), ("accepted", None)]


def test_a_batch_over_versions_stored_by_an_earlier_batch_closes_them() -> None:
    lot(1, 7, quantity=100)
    handoff(2, 1, 7, 40)
    handoff(3, 2, 7, 10)
    project()
    settle(4, "HandoffRejected", 1, 7, 40)
    settle(5, "HandoffCancelled", 2, 7, 10)
    quarantine(6, 7, on=True)
    project()
    assert balances(7) == {MAKER: 100}
    statuses = HandoffVersion.objects.filter(chain_id=CHAIN, block_to__isnull=True)
    assert {int(h.handoff_id): (h.status, h.reason) for h in statuses} == {
        1: ("rejected", "damaged"),
        2: ("cancelled", ""),
    }
    assert history(HandoffVersion, handoff_id=1) == [(2, 4), (4, None)]
    assert history(Balance, lot_id=7, holder=MAKER) == [(1, 2), (2, 3), (3, 4), (4, 5), (5, None)]
    assert LotVersion.objects.get(chain_id=CHAIN, block_to__isnull=True).quarantined


def test_transfer_batch_moves_every_lot_it_names() -> None:
    lot(1, 1, quantity=10)
    lot(2, 2, quantity=20)
    project()
    stored(3, 0, "TransferBatch", operator=MAKER, to=TAKER, ids=[1, 2], values=[4, 20],
           **{"from": MAKER})  # fmt: skip
    project()
    assert balances(1) == {MAKER: 6, TAKER: 4}
    assert balances(2) == {TAKER: 20}


# ------------------------------------------------------------- bundles, transformations


def test_a_bundle_packed_and_unpacked_in_one_batch_and_across_batches() -> None:
    lot(1, 1)
    stored(2, 0, "LotsBundled", bundleId=50, holder=MAKER, lotIds=[1], quantities=[5],
           escrow=ESCROW)  # fmt: skip
    stored(3, 0, "LotsUnbundled", bundleId=50, holder=MAKER, lotIds=[1], quantities=[5],
           escrow=ESCROW)  # fmt: skip
    stored(4, 0, "LotsBundled", bundleId=51, holder=MAKER, lotIds=[1], quantities=[7],
           escrow=ESCROW)  # fmt: skip
    project()
    assert history(BundleContent, bundle_id=50) == [(2, 3)]
    assert history(BundleContent, bundle_id=51) == [(4, None)]
    stored(5, 0, "LotsUnbundled", bundleId=51, holder=MAKER, lotIds=[1], quantities=[7],
           escrow=ESCROW)  # fmt: skip
    project()
    assert history(BundleContent, bundle_id=51) == [(4, 5)]


def test_a_transformation_records_every_input_output_edge() -> None:
    stored(1, 0, "LotsTransformed", transformationId=3, actor=MAKER, inputIds=[1, 2],
           inputQuantities=[5, 6], outputIds=[10, 11, 12], outputQuantities=[1, 1, 2],
           processHash=H)  # fmt: skip
    project()
    edges = TransformationEdge.objects.filter(chain_id=CHAIN)
    assert {(int(e.input_lot), int(e.output_lot)) for e in edges} == {
        (i, o) for i in (1, 2) for o in (10, 11, 12)
    }
    assert all(e.block_to is None and e.process_hash == H for e in edges)


# ------------------------------------------------------------------------ certificates


def issue(block: int, certificate_id: int) -> None:
    stored(block, 0, "CertificateIssued", certificateId=certificate_id, subjectKind=1,
           subject=7, certificateType=H, issuer=REPORTER, documentHash=H,
           validFrom=1_700_000_000, validUntil=1_800_000_000, claimKeys=[H],
           claimValues=["0x" + "01" * 32])  # fmt: skip


def test_a_certificate_issued_then_revoked_in_one_batch_and_across_batches() -> None:
    issue(1, 1)
    stored(2, 0, "CertificateRevoked", certificateId=1, issuer=REPORTER, reason="fraud")
    issue(3, 2)
    project()
    stored(4, 0, "CertificateRevoked", certificateId=2, issuer=REPORTER, reason="expired")
    project()
    now = {
        int(c.certificate_id): c
        for c in CertificateVersion.objects.filter(chain_id=CHAIN, block_to__isnull=True)
    }
    assert (now[1].revoked, now[1].revoke_reason) == (True, "fraud")
    assert (now[2].revoked, now[2].revoke_reason) == (True, "expired")
    assert now[2].claims == {H: "0x" + "01" * 32}
    assert now[2].valid_from == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert history(CertificateVersion, certificate_id=2) == [(3, 4), (4, None)]


# --------------------------------------------------------- batch semantics and rollback


def busy_chain(chain: int) -> None:
    """Two lots handed off, rejected, accepted and quarantined again and again."""
    lot(1, 1, chain=chain)
    lot(2, 2, chain=chain)
    handoff_id = 0
    for round_ in range(3):
        base = 10 + 10 * round_
        for k, lot_id in enumerate((1, 2)):
            handoff_id += 1
            handoff(base + k, handoff_id, lot_id, 5, chain)
            outcome = "HandoffAccepted" if round_ % 2 == 0 else "HandoffRejected"
            settle(base + 2 + k, outcome, handoff_id, lot_id, 5, chain)
            quarantine(base + 4 + k, lot_id, True, chain)
            quarantine(base + 6 + k, lot_id, False, chain)


def test_a_batch_projects_exactly_what_one_event_at_a_time_does() -> None:
    busy_chain(CHAIN)
    busy_chain(CHAIN + 1)
    project(CHAIN, batch=2000)  # every event in one batch
    project(CHAIN + 1, batch=1)  # every event in its own batch and transaction
    one_batch, one_by_one = snapshot(CHAIN), snapshot(CHAIN + 1)
    assert one_batch == one_by_one
    assert len(one_batch["LotVersion"]) == 2 + 2 * 6
    assert balances(1) == {MAKER: 90, TAKER: 10}
    assert {b: Decimal(q) for b, q in balances(2).items()} == {MAKER: 90, TAKER: 10}


def test_a_rollback_restores_the_projections_as_of_the_fork() -> None:
    busy_chain(CHAIN)
    ChainEvent.objects.filter(block_number__gt=20).delete()
    project()
    before = snapshot(CHAIN)
    busy_chain_tail = ChainEvent.objects.count()
    # Blocks above 20 arrive, are projected (closing versions stored before them) ...
    for block, lot_id in ((21, 1), (22, 2)):
        handoff(block, 100 + lot_id, lot_id, 5)
    quarantine(23, 1, True)
    project()
    assert snapshot(CHAIN) != before
    # ... and leave the chain.
    Projector(CHAIN).rollback_to(20)
    ChainEvent.objects.filter(block_number__gt=20).delete()
    assert snapshot(CHAIN) == before
    assert ChainEvent.objects.count() == busy_chain_tail
    assert not LotVersion.objects.get(chain_id=CHAIN, lot_id=1, block_to__isnull=True).quarantined
