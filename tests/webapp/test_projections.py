"""Projections: folded from the event store alone, temporal, rebuilt identically."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from web3 import Web3

from contracts.chain.deploy import Manifest
from contracts.chain.domain import LotKind, SubjectKind, ascii32
from tests.contracts.consortium import H1, H2, Consortium
from tests.webapp.test_indexer import activity
from webapp.chain.indexer import ChainIndexer
from webapp.chain.pipeline import chain_sync
from webapp.lots.selectors import describe_event, lot_history
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

pytestmark = [
    pytest.mark.integration,
    pytest.mark.node,
    pytest.mark.django_db(transaction=True),
]


def mirror(w3: Web3, manifest: Manifest) -> None:
    chain_sync(indexer=ChainIndexer(w3, manifest))


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for model in VERSIONED:
        fields = [f.name for f in model._meta.concrete_fields if f.name != "id"]
        rows = model.objects.values_list(*fields)  # type: ignore[attr-defined]
        tables[model.__name__] = sorted(rows, key=repr)
    return tables


def as_of(model: Any, block: int, **key: Any) -> Any:
    from django.db.models import Q

    return model.objects.filter(
        Q(block_to__isnull=True) | Q(block_to__gt=block), block_from__lte=block, **key
    )


def test_projections_follow_the_chain(chain: Consortium, w3: Web3, manifest: Manifest) -> None:
    c = chain
    ore = c.register_lot(c.miner, quantity=1_000, kind=LotKind.RAW_MATERIAL)
    h = c.handoff(c.miner, c.refinery, ore, 600)
    after_initiate = w3.eth.block_number
    c.accept(c.refinery, h, ore, c.miner)
    ingot = c.new_id()
    c.act(c.refinery, c.lots.functions.transform([ore], [600], [(ingot, 60, 2, H1, H2)], H1))
    pallet = c.new_id()
    c.act(c.refinery, c.lots.functions.bundle(pallet, [ingot], [60], H1, H2))
    c.act(c.reporter, c.lots.functions.setQuarantine(ore, "humidity"))
    now = w3.eth.get_block("latest")["timestamp"]
    c.act(
        c.certifier,
        c.certificates.functions.issue(
            SubjectKind.LOT, pallet, ascii32("QUALITY"), H1, now, now + 1000,
            [ascii32("CO2E_G_PER_UNIT")], [42],
        ),
    )  # fmt: skip
    mirror(w3, manifest)

    def current(model: Any, **key: Any) -> Any:
        return model.objects.get(block_to__isnull=True, **key)

    assert current(Balance, lot_id=ore, holder=c.miner.address).quantity == 400
    assert not Balance.objects.filter(lot_id=ore, holder=c.refinery.address, block_to=None)
    assert current(HandoffVersion, handoff_id=h).status == "accepted"
    assert as_of(HandoffVersion, after_initiate, handoff_id=h).get().status == "open"
    escrow = as_of(HandoffVersion, after_initiate, handoff_id=h).get().escrow
    assert as_of(Balance, after_initiate, lot_id=ore, holder=escrow).get().quantity == 600
    edge = TransformationEdge.objects.get()
    assert (edge.input_lot, edge.output_lot, edge.input_quantity) == (ore, ingot, 600)
    assert current(BundleContent, bundle_id=pallet).lot_id == ingot
    lot = current(LotVersion, lot_id=ore)
    assert lot.quarantined
    assert lot.quarantine_reason == "humidity"
    cert = current(CertificateVersion, subject=pallet)
    assert cert.claims == {"0x" + ascii32("CO2E_G_PER_UNIT").hex(): 42}
    assert current(ParticipantVersion, account=c.miner.address).active
    assert Balance.objects.filter(quantity__lte=Decimal(0)).count() == 0


def test_a_quarantine_keeps_who_set_it_and_the_history_names_who_lifted_it(
    chain: Consortium, w3: Web3, manifest: Manifest
) -> None:
    c = chain
    lot_id = c.register_lot(c.miner)
    c.act(c.reporter, c.lots.functions.setQuarantine(lot_id, "humidity"))
    set_in = w3.eth.block_number
    c.act(c.auditor, c.lots.functions.clearQuarantine(lot_id, "audit found it dry"))
    mirror(w3, manifest)

    then = as_of(LotVersion, set_in, lot_id=lot_id).get()
    assert (then.quarantined, then.quarantined_by, then.quarantine_reason) == (
        True, c.reporter.address, "humidity",
    )  # fmt: skip
    now = LotVersion.objects.get(lot_id=lot_id, block_to__isnull=True)
    assert (now.quarantined, now.quarantined_by, now.quarantine_reason) == (False, "", "")
    names = {c.reporter.address: "Sensor Co", c.auditor.address: "Audit Ltd"}
    lines = [describe_event(e, names) for e in lot_history(lot_id=lot_id)]
    assert lines[-2:] == [
        "Sensor Co quarantined the lot as reporter: humidity",
        "Audit Ltd lifted the quarantine set by Sensor Co: audit found it dry",
    ]


def test_rebuild_projections_reproduces_the_tables(
    chain: Consortium, w3: Web3, manifest: Manifest
) -> None:
    activity(chain, rounds=2)
    mirror(w3, manifest)
    before = snapshot()
    assert all(before[m.__name__] for m in (Balance, HandoffVersion, LotVersion))

    call_command("rebuild_projections")

    assert snapshot() == before


def test_a_reorg_rolls_the_projections_back(
    chain: Consortium, w3: Web3, manifest: Manifest
) -> None:
    c = chain
    activity(c, rounds=1)
    mirror(w3, manifest)
    kept = snapshot()
    doomed = [c.register_lot(c.miner) for _ in range(3)]
    mirror(w3, manifest)
    assert LotVersion.objects.filter(lot_id__in=doomed).count() == 3

    w3.provider.make_request("anvil_reorg", [3, []])  # type: ignore[arg-type]
    mirror(w3, manifest)

    assert not LotVersion.objects.filter(lot_id__in=doomed).exists()
    assert snapshot() == kept


def test_who_held_a_lot_and_what_a_bundle_held_as_of_a_block_or_a_time(
    chain: Consortium, w3: Web3, manifest: Manifest
) -> None:
    from datetime import UTC, datetime, timedelta

    from webapp.projections.selectors import bundle_contents, lot_holders

    c = chain
    chip = c.register_lot(c.maker, quantity=100, kind=LotKind.PRODUCT)
    pallet = c.new_id()
    c.act(c.maker, c.lots.functions.bundle(pallet, [chip], [100], H1, H2))
    packed = w3.eth.get_block("latest")
    w3.provider.make_request("evm_increaseTime", [3600])  # type: ignore[arg-type]
    h = c.handoff(c.maker, c.retailer, pallet, 1)
    c.accept(c.retailer, h, pallet, c.maker)
    c.act(c.retailer, c.lots.functions.unbundle(pallet, [chip], [100]))
    mirror(w3, manifest)
    cid = manifest.chain_id

    assert lot_holders(chain_id=cid, lot_id=pallet, block=packed["number"]) == {c.maker.address: 1}
    assert lot_holders(chain_id=cid, lot_id=pallet) == {}  # burnt when unbundled
    assert lot_holders(chain_id=cid, lot_id=chip) == {c.retailer.address: 100}
    assert bundle_contents(chain_id=cid, bundle_id=pallet, block=packed["number"]) == {chip: 100}
    assert bundle_contents(chain_id=cid, bundle_id=pallet) == {}

    packed_at = datetime.fromtimestamp(packed["timestamp"], tz=UTC)
    half_hour_later = packed_at + timedelta(minutes=30)
    assert lot_holders(chain_id=cid, lot_id=pallet, at=half_hour_later) == {c.maker.address: 1}
    assert bundle_contents(chain_id=cid, bundle_id=pallet, at=half_hour_later) == {chip: 100}
    long_before = packed_at - timedelta(days=365)
    assert lot_holders(chain_id=cid, lot_id=chip, at=long_before) == {}


def test_the_indexer_confirms_operations_when_their_events_arrive(
    chain: Consortium, w3: Web3, manifest: Manifest
) -> None:
    from webapp.operations.models import Operation
    from webapp.organisations.models import Organisation

    c = chain
    org = Organisation.objects.create(slug="miner", name="Miner", address=c.miner.address)
    receipt = c.act(c.miner, c.lots.functions.registerLot(c.new_id(), 5, 1, H1, H2))
    tx_hash = receipt["transactionHash"].to_0x_hex()
    mined = Operation.objects.create(
        organisation=org, chain_id=manifest.chain_id, sender=c.miner.address, action="lot_register",
        status=Operation.Status.MINED, transaction_hash=tx_hash,
    )  # fmt: skip
    elsewhere = Operation.objects.create(
        organisation=org, chain_id=manifest.chain_id, sender=c.miner.address, action="lot_register",
        status=Operation.Status.SUBMITTED, transaction_hash="0x" + "ab" * 32,
    )  # fmt: skip

    mirror(w3, manifest)

    mined.refresh_from_db()
    elsewhere.refresh_from_db()
    assert mined.status == Operation.Status.CONFIRMED
    assert mined.confirmed_block == receipt["blockNumber"]
    assert elsewhere.status == Operation.Status.SUBMITTED

    # The block is reorganised away: the operation is no longer confirmed.
    w3.provider.make_request("anvil_reorg", [w3.eth.block_number - receipt["blockNumber"] + 1, []])  # type: ignore[arg-type]
    mirror(w3, manifest)
    mined.refresh_from_db()
    assert mined.status == Operation.Status.SUBMITTED
