"""A breach quarantines a shipment's lots on a real chain: readings about the lots on a
closed pallet break a shipment rule, the reporter's quarantines are mined, the pallet can
no longer be handed off (the chain refuses with LotQuarantined), and clearing the alert,
which takes a person with the role and a reason, lifts them so the pallet moves again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from contracts.chain.domain import Role
from tests.webapp.network import PASSWORD, Network
from tests.webapp.test_provenance_flow import done, hand
from webapp.lots.services import bundle_create, handoff_initiate, lot_register
from webapp.monitoring.models import Alert
from webapp.monitoring.rule_services import rule_create
from webapp.monitoring.services import Measurement, sensor_readings_record
from webapp.operations.calls import ContractCall
from webapp.operations.models import Operation
from webapp.operations.services import operation_queue
from webapp.organisations.models import Organisation
from webapp.organisations.services import (
    api_token_create,
    member_invite,
    organisation_create,
    organisation_create_key,
)
from webapp.participants.services import organisation_register
from webapp.projections.models import LotVersion

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]

KEY = "5f0c2d3e-monitoring"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def reporter(net: Network) -> Organisation:
    """A cold-chain monitoring company, registered on chain as a REPORTER."""
    monitor = organisation_create(name="Cold Chain Watch", roles=Role.REPORTER, slug="monitor")
    organisation_create_key(organisation=monitor)
    done(net, organisation_register(organisation=monitor))
    member_invite(organisation=monitor, username="monitor-driver", password=PASSWORD)
    member_invite(organisation=monitor, username="monitor-qa", password=PASSWORD, is_admin=True)
    return monitor


def temperatures(lot_ids: list[int], *points: tuple[int, str]) -> None:
    sensor_readings_record(
        lot_ids=lot_ids,
        measurements=[
            Measurement(
                time=T0 + timedelta(minutes=minute),
                type="gs1:Temperature",
                value=Decimal(value),
                unit="CEL",
                device_id="reefer-7",
            )
            for minute, value in points
        ],
        source="device",
    )


def quarantined(lot_id: int) -> bool:
    return LotVersion.objects.get(lot_id=lot_id, block_to__isnull=True).quarantined


def person(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def test_a_breach_stops_the_pallet_until_a_quality_manager_clears_it(network: Network) -> None:
    net = network
    mine = net.orgs["mine"]
    monitor = reporter(net)
    lots = [
        int(done(net, lot_register(organisation=mine, name=name, quantity=100, unit="kg")).lot_id
            or 0)
        for name in ("Strawberries A", "Strawberries B")
    ]  # fmt: skip
    pallet = int(
        done(
            net,
            bundle_create(organisation=mine, items=[(i, 100) for i in lots], name="Reefer 7"),
        ).lot_id
        or 0
    )
    hand(net, "mine", "distributor", pallet, 1)
    rule_create(
        organisation=monitor, name="berries 0-8 °C", kind="temperature_above",
        threshold=Decimal(8), duration_s=15 * 60, bundle_id=pallet,
    )  # fmt: skip

    temperatures(lots, (0, "6"), (5, "9"), (10, "11"))  # the door is open
    assert not Alert.objects.exists()
    temperatures(lots, (20, "10"))  # 15 minutes beyond 8 °C
    (alert,) = Alert.objects.all()
    assert alert.lot_ids == sorted(lots)
    operations = list(Operation.objects.filter(id__in=alert.operation_ids))
    assert sorted(int(o.lot_id or 0) for o in operations) == sorted(lots)
    assert {o.sender for o in operations} == {monitor.address}
    temperatures(lots, (25, "12"))  # still too warm: nothing more is queued
    assert Operation.objects.filter(action="lot.set_quarantine").count() == 2

    net.settle()
    for operation in operations:
        operation.refresh_from_db()
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    assert all(quarantined(i) for i in lots)
    assert not quarantined(pallet)

    # The pallet's page draws the readings with the rule's bound and the excursion; the
    # alerts page lists the alert with a form to clear it.
    qa = person("monitor-qa")
    page = qa.get(f"/lots/{pallet}").content.decode()
    assert 'id="conditions"' in page
    assert page.count('class="bound"') == 1
    assert page.count('class="excursion"') == 1
    alerts_page = qa.get("/alerts").content.decode()
    assert f'id="alert-{alert.pk}"' in alerts_page
    assert f"/alerts/{alert.pk}/clear" in alerts_page
    assert (
        f"/alerts/{alert.pk}/clear" not in person("monitor-driver").get("/alerts").content.decode()
    )

    # The distributor's handoff of the closed pallet is refused on chain.
    refused, _ = operation_queue(
        organisation=net.orgs["distributor"],
        action="handoff.initiate",
        request={"lot_id": pallet, "receiver": "retailer", "quantity": 1},
        call=ContractCall(
            contract="Lots",
            function="initiateHandoff",
            args=(pallet, net.orgs["retailer"].address, 1),
        ),
        lot_id=pallet,
    )
    net.settle()
    refused.refresh_from_db()
    assert refused.status == Operation.Status.FAILED
    assert refused.error.startswith("LotQuarantined(lotId="), refused.error
    assert int(refused.error.split("=")[1].rstrip(")")) in lots

    # Clearing: not by a system, not by a member without the role, not without a reason.
    url = f"/api/v1/alerts/{alert.pk}/clear"

    def clear(client: Client, reason: str) -> Any:
        return client.post(
            url, {"reason": reason}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=KEY
        )

    plain, _ = api_token_create(organisation=monitor, name="telematics")
    assert clear(Client(HTTP_AUTHORIZATION=f"Bearer {plain}"), "fine").status_code == 403
    assert clear(person("monitor-driver"), "fine").status_code == 403
    assert clear(person("monitor-qa"), "").status_code == 400
    assert clear(person("distributor"), "fine").status_code == 404  # another organisation's
    alert.refresh_from_db()
    assert alert.state == "open"
    assert not Operation.objects.filter(action="lot.clear_quarantine").exists()

    cleared = clear(person("monitor-qa"), "probe lay against the door; core temperature 4 °C")
    assert cleared.status_code == 200, cleared.content
    assert cleared.json()["state"] == "cleared"
    assert len(cleared.json()["clear_operation_ids"]) == 2
    retried = clear(person("monitor-qa"), "probe lay against the door; core temperature 4 °C")
    assert retried.json()["clear_operation_ids"] == cleared.json()["clear_operation_ids"]
    net.settle()
    for operation in Operation.objects.filter(action="lot.clear_quarantine"):
        assert operation.status == Operation.Status.CONFIRMED, operation.error
        assert operation.call["function"] == "clearQuarantine"
    assert not any(quarantined(i) for i in lots)

    moved = done(
        net,
        handoff_initiate(
            organisation=net.orgs["distributor"],
            lot_id=pallet,
            receiver=net.orgs["retailer"],
            quantity=1,
        ),
    )
    assert moved.status == Operation.Status.CONFIRMED
