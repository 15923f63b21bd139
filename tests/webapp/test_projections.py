"""Projections: folded from the event store alone, temporal, rebuilt identically."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from web3 import Web3

from contracts.deploy import Manifest
from contracts.domain import LotKind, SubjectKind, ascii32
from tests.contracts.consortium import H1, H2, Consortium
from tests.webapp.test_indexer import activity
from webapp.chain.indexer import ChainIndexer
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

pytestmark = [
    pytest.mark.integration,
    pytest.mark.node,
    pytest.mark.django_db(transaction=True),
]


def mirror(w3: Web3, manifest: Manifest) -> None:
    ChainIndexer(w3, manifest).run_until_head()
    Projector(manifest.chain_id).apply_pending()


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
    assert lot.quarantined and lot.quarantine_reason == "humidity"
    cert = current(CertificateVersion, subject=pallet)
    assert cert.claims == {"0x" + ascii32("CO2E_G_PER_UNIT").hex(): 42}
    assert current(ParticipantVersion, account=c.miner.address).active
    assert Balance.objects.filter(quantity__lte=Decimal(0)).count() == 0


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
