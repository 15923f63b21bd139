"""Webhooks on a real chain (anvil, the whole mirror pipeline): who receives which fact
follows the stock scope the projections give each organisation, and a lot filter follows
the lot into what was made from it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from tests.webapp.network import Network
from tests.webapp.streams_world import Receiver
from tests.webapp.test_provenance_flow import done, hand
from webapp.lots.services import Output, lot_register, transformation_record
from webapp.organisations.models import Organisation
from webapp.streams.delivery import streams_deliver_due
from webapp.streams.services import Start, subscription_create

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receivers(settings: Any) -> Iterator[dict[str, Receiver]]:
    settings.STREAMS_ALLOW_HTTP_LOOPBACK = True
    found = {name: Receiver().up() for name in ("refinery", "distributor", "mine_ore")}
    yield found
    for receiver in found.values():
        receiver.down()


def subscribe(org: Organisation, receiver: Receiver, **filters: Any) -> None:
    created = subscription_create(
        organisation=org,
        name="erp",
        url=receiver.url,
        start=Start("oldest"),
        filters=filters,
        options={},
    )
    receiver.secrets.append(created.secret)


def types(receiver: Receiver) -> list[str]:
    return [p["type"] for d in receiver.accepted for p in d.payloads]


def test_each_organisation_receives_the_facts_its_scope_shows_and_a_lot_filter_follows_the_lot(
    network: Network, receivers: dict[str, Receiver]
) -> None:
    net = network
    mine, refinery = net.orgs["mine"], net.orgs["refinery"]
    ore = int(
        done(net, lot_register(organisation=mine, name="Ore", quantity=100, unit="kg")).lot_id or 0
    )
    other = int(
        done(net, lot_register(organisation=mine, name="Other", quantity=5, unit="kg")).lot_id or 0
    )
    hand(net, "mine", "refinery", ore, 100)
    chips = int(
        done(
            net,
            transformation_record(
                organisation=refinery,
                inputs=[(ore, 80)],
                process="refining",
                outputs=[Output(name="Chips", quantity=60, unit="pieces")],
            ),
        ).lot_id
        or 0
    )
    subscribe(refinery, receivers["refinery"], event_types=[
        "LotRegistered", "HandoffInitiated", "HandoffAccepted", "LotsTransformed"
    ])  # fmt: skip
    subscribe(net.orgs["distributor"], receivers["distributor"])
    subscribe(mine, receivers["mine_ore"], lot_ids=[ore], event_types=["LotRegistered"])
    streams_deliver_due(now=timezone.now())

    refinery_types = types(receivers["refinery"])
    assert {"HandoffInitiated", "HandoffAccepted", "LotsTransformed"} <= set(refinery_types)
    # The distributor touched none of these lots: only the public facts reach it.
    distributor = types(receivers["distributor"])
    assert "LotRegistered" in distributor
    assert not {"HandoffInitiated", "HandoffAccepted", "LotsTransformed"} & set(distributor)
    # The ore filter: the ore's registration and the chips made from it, not the other lot.
    lots = [int(p["fact"]["lotId"]) for d in receivers["mine_ore"].accepted for p in d.payloads]
    assert lots == [ore, chips]
    assert other not in lots
    for receiver in receivers.values():
        assert receiver.unverified == 0
        sequences = receiver.sequences()
        assert sequences == sorted(set(sequences))
