"""Many lots registered at once: the same operations, metadata, pre-flight and idempotency
as one `lot_register` after another, all or nothing."""

from __future__ import annotations

import pytest

from contracts.chain.domain import LotKind
from tests.webapp.network import Network
from webapp.lots.models import LotMetadata
from webapp.lots.services import (
    Registration,
    RegistrationRefused,
    lot_register,
    lot_register_many,
)
from webapp.operations.models import Operation
from webapp.operations.services import IdempotencyConflict
from webapp.projections.models import LotVersion

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


def _lots(count: int, prefix: str = "k") -> list[Registration]:
    return [
        Registration(
            name=f"Ore {i}",
            quantity=100 + i,
            unit="kg",
            kind=LotKind.RAW_MATERIAL,
            gtin="09506000134352",
            batch=f"B{i}",
            idempotency_key=f"{prefix}{i}",
        )
        for i in range(count)
    ]


def test_many_lots_become_the_operations_one_after_another_would(network: Network) -> None:
    mine = network.orgs["mine"]
    single = lot_register(
        organisation=mine, name="Ore 0", quantity=100, unit="kg", gtin="09506000134352",
        batch="B0", idempotency_key="single",
    )  # fmt: skip
    many = lot_register_many(organisation=mine, lots=_lots(3))
    assert [op.action for op in many] == ["lot.register"] * 3
    assert many[0].request == single.request
    ids = [int(op.lot_id or 0) for op in many]
    assert len(set(ids)) == 3
    assert min(ids) > int(single.lot_id or 0)
    for op, lot_id in zip(many, ids, strict=True):
        assert op.call["args"][0] == lot_id
        assert LotMetadata.objects.get(lot_id=lot_id).document["lot_id"] == lot_id
    for done in network.settle():
        assert done.status == Operation.Status.CONFIRMED, done.error
    assert set(
        LotVersion.objects.filter(lot_id__in=ids, block_to__isnull=True).values_list(
            "lot_id", flat=True
        )
    ) == set(ids)

    # The same keys again: the same operations, nothing new.
    before = Operation.objects.count()
    again = lot_register_many(organisation=mine, lots=_lots(3))
    assert [op.id for op in again] == [op.id for op in many]
    assert Operation.objects.count() == before


def test_a_refused_registration_leaves_nothing_behind(network: Network) -> None:
    mine = network.orgs["mine"]
    before = Operation.objects.count()
    lots = _lots(3)
    lots[1] = Registration(name=" ", quantity=5, unit="kg", idempotency_key="bad")
    with pytest.raises(RegistrationRefused) as refused:
        lot_register_many(organisation=mine, lots=lots)
    assert refused.value.index == 1
    assert "name" in refused.value.error.message_dict
    assert Operation.objects.count() == before
    assert not LotMetadata.objects.exists()

    # A role the chain requires: refused by the pre-flight with the chain's reason.
    with pytest.raises(RegistrationRefused) as refused:
        lot_register_many(organisation=network.orgs["retailer"], lots=_lots(2))
    assert "lacks the role" in " ".join(refused.value.error.messages)
    assert Operation.objects.count() == before
    assert not LotMetadata.objects.exists()


def test_a_key_used_for_another_request_is_a_conflict(network: Network) -> None:
    mine = network.orgs["mine"]
    lot_register_many(organisation=mine, lots=_lots(2))
    before = Operation.objects.count()
    changed = [Registration(name="Other", quantity=1, unit="kg", idempotency_key="k0")]
    with pytest.raises(IdempotencyConflict):
        lot_register_many(organisation=mine, lots=changed)
    assert Operation.objects.count() == before
    assert LotMetadata.objects.count() == 2
