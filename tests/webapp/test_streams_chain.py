"""Webhooks on a real chain (anvil, the whole mirror pipeline): who receives which fact
follows the stock scope the projections give each organisation, and a lot filter follows
the lot into what was made from it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone
from web3 import Web3

from contracts.chain.client import build_transaction
from contracts.chain.deploy import Manifest
from contracts.chain.domain import LotKind, Role
from tests.contracts.consortium import H1, H2, Consortium
from tests.webapp.network import Network
from tests.webapp.streams_world import Receiver
from tests.webapp.test_provenance_flow import done, hand
from webapp.chain.indexer import ChainIndexer
from webapp.chain.models import ChainEvent
from webapp.chain.pipeline import chain_sync
from webapp.lots.services import Output, lot_register, transformation_record
from webapp.organisations.models import Organisation
from webapp.streams.delivery import streams_deliver_due
from webapp.streams.payloads import fact_event_id
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


def test_a_depth_3_reorg_during_delivery_retracts_what_left_the_chain(
    chain: Consortium, w3: Web3, manifest: Manifest, settings: Any
) -> None:
    settings.STREAMS_ALLOW_HTTP_LOOPBACK = True
    settings.CHAIN_ID = manifest.chain_id
    receiver = Receiver().up()
    try:
        auditor = Organisation.objects.create(
            name="Audit", slug="audit", roles=int(Role.AUDITOR), address="0x" + "d4" * 20
        )
        subscribe(auditor, receiver)
        c = chain
        for _ in range(2):
            c.register_lot(c.miner)
        for _ in range(3):
            c.register_lot(c.miner)  # one block each: the three the reorg takes away
        chain_sync(indexer=ChainIndexer(w3, manifest))
        streams_deliver_due(now=timezone.now())
        fork = w3.eth.block_number - 3
        doomed = {fact_event_id(e) for e in ChainEvent.objects.filter(block_number__gt=fork)}
        assert len(doomed) >= 3  # a LotRegistered (and what goes with it) in each block
        assert doomed <= set(receiver.payload_ids())

        replacement = c.new_id()
        call = c.lots.functions.registerLot(replacement, 5, LotKind.PRODUCT, H1, H2)
        signed = c.maker.sign_transaction(build_transaction(w3, c.maker.address, call, gas=300_000))
        w3.provider.make_request("anvil_reorg", [3, [["0x" + signed.hex(), 0]]])  # type: ignore[arg-type]
        chain_sync(indexer=ChainIndexer(w3, manifest))
        streams_deliver_due(now=timezone.now())

        payloads = [p for d in receiver.accepted for p in d.payloads]
        retracted = [p["id"] for p in payloads if p["type"] == "retracted"]
        assert set(retracted) == doomed
        assert len(retracted) == len(doomed)
        live = {p["id"] for p in payloads if p["type"] != "retracted"} - set(retracted)
        assert live == {fact_event_id(e) for e in ChainEvent.objects.all()}
        assert any(p["fact"].get("lotId") == replacement for p in payloads)
        assert receiver.unverified == 0
    finally:
        receiver.down()
