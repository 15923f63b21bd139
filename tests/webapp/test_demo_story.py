"""The demo's story on a real chain: a refrigerated pallet the distributor has handed off
to the retailer (not accepted yet) warms up as the demo's simulator has it (the door opens
about a minute in); the rule on the pallet quarantines its lots on chain; the retailer's
acceptance is refused before signing, naming the lots and the alert (API and portal); a
quality manager clears the alert with a reason; the acceptance then succeeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from contracts.chain.domain import Role
from deploy.local import simulator
from tests.webapp.network import PASSWORD, Network
from tests.webapp.test_provenance_flow import done
from webapp.lots.services import bundle_create, handoff_accept, handoff_initiate, lot_register
from webapp.monitoring.models import Alert
from webapp.monitoring.rule_services import rule_create
from webapp.monitoring.services import Measurement, sensor_readings_record
from webapp.operations.models import Operation
from webapp.organisations.models import Member, Organisation
from webapp.organisations.services import (
    member_invite,
    organisation_create,
    organisation_create_key,
)
from webapp.participants.services import organisation_register
from webapp.projections.models import HandoffVersion, LotVersion

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _reporter(net: Network) -> Organisation:
    sensors = organisation_create(name="ColdChain Sensors", roles=Role.REPORTER, slug="sensors")
    organisation_create_key(organisation=sensors)
    done(net, organisation_register(organisation=sensors))
    member_invite(organisation=sensors, username="sensors-driver", password=PASSWORD)
    quality = User.objects.create_user("quality", password=PASSWORD)
    Member.objects.create(user=quality, organisation=sensors, is_admin=False)
    quality.user_permissions.add(
        Permission.objects.get(content_type__app_label="monitoring", codename="clear_alert")
    )
    return sensors


def _person(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


@pytest.mark.integration
@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_a_warm_pallet_is_refused_until_a_quality_manager_clears_it(network: Network) -> None:
    net = network
    maker, dist, shop = net.orgs["mine"], net.orgs["distributor"], net.orgs["retailer"]
    sensors = _reporter(net)
    chips = [
        int(done(net, lot_register(organisation=maker, name=n, quantity=1000, unit="piece")).lot_id
            or 0)
        for n in ("Chip A", "Chip B")
    ]  # fmt: skip
    made = bundle_create(organisation=maker, items=[(c, 1000) for c in chips], name="Pallet")
    pallet = int(done(net, made).lot_id or 0)
    done(net, handoff_initiate(organisation=maker, lot_id=pallet, receiver=dist, quantity=1))
    first = HandoffVersion.objects.get(lot_id=pallet, status="open", block_to__isnull=True)
    done(net, handoff_accept(organisation=dist, handoff_id=int(first.handoff_id)))
    done(net, handoff_initiate(organisation=dist, lot_id=pallet, receiver=shop, quantity=1))
    handoff = int(
        HandoffVersion.objects.get(lot_id=pallet, status="open", block_to__isnull=True).handoff_id
    )
    rule_create(
        organisation=sensors, name=simulator.RULE_NAME, kind="temperature_above",
        threshold=simulator.RULE_THRESHOLD, duration_s=simulator.RULE_DURATION_S,
        bundle_id=pallet,
    )  # fmt: skip

    # The logger's first four minutes, as the simulator publishes them.
    sensor_readings_record(
        lot_ids=chips,
        measurements=[
            Measurement(
                time=T0 + timedelta(seconds=t),
                type="gs1:Temperature",
                value=Decimal(str(simulator.temperature(t, 600))),
                unit="CEL",
                device_id=simulator.DEVICE,
            )
            for t in range(0, 240, 3)
        ],
        source="device",
    )
    (alert,) = Alert.objects.all()
    assert alert.lot_ids == sorted(chips)
    net.settle()
    for operation in Operation.objects.filter(action="lot.set_quarantine"):
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    assert all(LotVersion.objects.get(lot_id=c, block_to__isnull=True).quarantined for c in chips)

    # The retailer's acceptance is refused before signing, with the lots and the alert.
    retailer = _person("retailer")
    url = f"/api/v1/handoffs/{handoff}/accept"
    refused = retailer.post(url, {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="a-1")
    assert refused.status_code in (400, 409), refused.content
    text = refused.content.decode()
    names = ", ".join(str(c) for c in sorted(chips))
    assert f"lots {names} packed in it are quarantined" in text
    assert alert.message in text
    page = retailer.post(f"/handoffs/{handoff}/accept", {"idempotency_key": "p-1"})
    assert page.status_code == 409
    assert f"lots {names} packed in it are quarantined" in page.content.decode()
    assert not Operation.objects.filter(action="handoff.accept", organisation=shop).exists()

    # Only the quality manager (or an admin) of the reporter clears it, with a reason.
    clear = f"/api/v1/alerts/{alert.pk}/clear"
    reason = {"reason": "door closed after 2.5 min; core probe reads 4 °C"}
    denied = _person("sensors-driver").post(
        clear, reason, content_type="application/json", HTTP_IDEMPOTENCY_KEY="c-1"
    )
    assert denied.status_code == 403
    cleared = _person("quality").post(
        clear, reason, content_type="application/json", HTTP_IDEMPOTENCY_KEY="c-1"
    )
    assert cleared.status_code == 200, cleared.content
    assert len(cleared.json()["clear_operation_ids"]) == len(chips)
    net.settle()
    for operation in Operation.objects.filter(action="lot.clear_quarantine"):
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    assert not any(
        LotVersion.objects.get(lot_id=c, block_to__isnull=True).quarantined for c in chips
    )

    accepted = retailer.post(url, {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="a-2")
    assert accepted.status_code in (200, 201, 202), accepted.content
    operation = Operation.objects.get(action="handoff.accept", organisation=shop)
    done(net, operation)
    assert (
        HandoffVersion.objects.get(handoff_id=handoff, block_to__isnull=True).status == "accepted"
    )
