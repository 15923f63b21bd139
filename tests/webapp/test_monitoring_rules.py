"""Rules on sensor readings, on the real database without a chain: each kind of rule, a
duration that spans batches, silence, scopes, one quarantine per lot and breach, the cost
of a batch, and the rules and alerts API (bad input refused, nothing changed; no access
across organisations)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from eth_account import Account

from contracts.chain.domain import Role
from webapp.lots.models import LotMetadata
from webapp.monitoring.models import Alert, Rule, RuleState
from webapp.monitoring.rule_services import rule_create
from webapp.monitoring.rules import silence_evaluate
from webapp.monitoring.services import Measurement, sensor_readings_record
from webapp.operations.models import Operation
from webapp.organisations.models import Organisation
from webapp.organisations.services import api_token_create, member_invite, organisation_create
from webapp.projections.models import BundleContent
from webapp.provenance.models import Notification

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

KEY = "5f0c2d3e-monitoring"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
TEMP, HUMIDITY, SHOCK = "gs1:Temperature", "gs1:RelativeHumidity", "gs1:Acceleration"
OSLO = (Decimal("59.911491"), Decimal("10.757933"))
STOCKHOLM = (Decimal("59.329323"), Decimal("18.068581"))


@pytest.fixture(autouse=True)
def _no_dispatch(settings: Any) -> None:
    settings.OPERATIONS_DISPATCH = False


def organisation(slug: str, roles: Role) -> Organisation:
    org = organisation_create(name=slug.title(), roles=roles, slug=slug)
    org.address = Account.create().address
    org.save()
    return org


@pytest.fixture
def reporter() -> Organisation:
    return organisation("coldchain", Role.DISTRIBUTOR | Role.REPORTER)


def read(
    lot_ids: Sequence[int],
    *points: tuple[float, str, str | float, str],
    where: tuple[Decimal, Decimal] | None = None,
) -> None:
    """Record readings (minutes after T0, type, value, unit) about the lots, in one batch."""
    sensor_readings_record(
        lot_ids=lot_ids,
        measurements=[
            Measurement(
                time=T0 + timedelta(minutes=minute),
                type=kind,
                value=Decimal(str(value)),
                unit=unit,
                device_id="logger-1",
                latitude=where[0] if where else None,
                longitude=where[1] if where else None,
            )
            for minute, kind, value, unit in points
        ],
        source="device",
    )


def quarantines() -> list[Operation]:
    return list(Operation.objects.filter(action="lot.set_quarantine").order_by("lot_id"))


def cold_rule(org: Organisation, lot_ids: list[int], **kwargs: Any) -> Rule:
    fields: dict[str, Any] = {
        "name": "vaccines",
        "kind": "temperature_above",
        "threshold": Decimal(8),
        "duration_s": 15 * 60,
        "lot_ids": lot_ids,
    }
    return rule_create(organisation=org, **(fields | kwargs))


def test_above_a_bound_for_a_duration_breaches_across_batches(reporter: Organisation) -> None:
    cold_rule(reporter, [101])
    read([101], (0, TEMP, 7, "CEL"), (5, TEMP, 9, "CEL"), (10, TEMP, 10.5, "CEL"))
    assert not Alert.objects.exists()
    read([101], (20, TEMP, 9.5, "CEL"))  # 15 minutes since the excursion began
    (alert,) = Alert.objects.all()
    assert alert.lot_ids == [101]
    assert alert.started_at == T0 + timedelta(minutes=5)
    assert alert.worst_value == Decimal("10.5")
    assert alert.ended_at is None
    assert alert.state == "open"
    assert "above 8 °C for 15 min" in alert.message
    assert [int(o.lot_id or 0) for o in quarantines()] == [101]
    assert quarantines()[0].call == {
        "contract": "Lots",
        "function": "setQuarantine",
        "args": [101, alert.message],
    }
    assert quarantines()[0].sender == reporter.address
    assert Notification.objects.filter(organisation=reporter, key=f"alert:{alert.pk}").exists()

    read([101], (25, TEMP, 12, "CEL"))  # still going: no second alert
    read([101], (30, TEMP, 6, "CEL"))  # back within the bound
    alert.refresh_from_db()
    assert Alert.objects.count() == 1
    assert alert.worst_value == Decimal(12)
    assert alert.ended_at == T0 + timedelta(minutes=30)
    assert len(quarantines()) == 1


def test_a_short_excursion_is_no_breach(reporter: Organisation) -> None:
    cold_rule(reporter, [101])
    read([101], (0, TEMP, 9, "CEL"), (10, TEMP, 7, "CEL"))
    read([101], (12, TEMP, 9, "CEL"), (20, TEMP, 9, "CEL"), (26, TEMP, 8, "CEL"))
    assert not Alert.objects.exists()
    # An older reading arriving late changes nothing.
    read([101], (1, TEMP, 30, "CEL"))
    assert not Alert.objects.exists()
    assert RuleState.objects.get().last_time == T0 + timedelta(minutes=26)


def test_below_a_bound_in_fahrenheit_breaches_at_once(reporter: Organisation) -> None:
    cold_rule(reporter, [101], kind="temperature_below", threshold=Decimal(2), duration_s=0)
    read([101], (0, TEMP, 40, "FAH"))  # 4.4 °C
    assert not Alert.objects.exists()
    read([101], (1, TEMP, 30, "FAH"))  # -1.1 °C
    (alert,) = Alert.objects.all()
    assert alert.worst_value is not None
    assert alert.worst_value < 0


def test_humidity_and_shock(reporter: Organisation) -> None:
    rule_create(
        organisation=reporter, name="dry", kind="humidity_above", threshold=Decimal(80),
        duration_s=600, lot_ids=[101],
    )  # fmt: skip
    rule_create(
        organisation=reporter, name="drops", kind="shock_above", threshold=Decimal(3),
        lot_ids=[102],
    )  # fmt: skip
    read([101], (0, HUMIDITY, 85, "P1"), (5, HUMIDITY, 90, "P1"))
    read([102], (0, SHOCK, 2.5, "K40"), (1, SHOCK, 19.6, "MSK"))  # 2 g
    assert not Alert.objects.exists()
    read([101], (10, HUMIDITY, 82, "P1"))
    read([102], (2, SHOCK, 49, "MSK"))  # 5 g
    kinds = {a.kind: a for a in Alert.objects.all()}
    assert set(kinds) == {"humidity_above", "shock_above"}
    assert kinds["humidity_above"].worst_value == Decimal(90)
    assert round(kinds["shock_above"].worst_value or 0, 2) == Decimal("5.00")
    # A temperature reading says nothing to a humidity rule.
    read([101], (11, TEMP, 99, "CEL"))
    assert Alert.objects.count() == 2


def test_leaving_a_geofence(reporter: Organisation) -> None:
    rule_create(
        organisation=reporter, name="stay in Oslo", kind="geofence_exit",
        latitude=OSLO[0], longitude=OSLO[1], radius_km=Decimal(50), lot_ids=[101],
    )  # fmt: skip
    read([101], (0, TEMP, 5, "CEL"), where=OSLO)
    read([101], (1, TEMP, 5, "CEL"))  # no position: nothing to say
    assert not Alert.objects.exists()
    read([101], (60, TEMP, 5, "CEL"), where=STOCKHOLM)
    (alert,) = Alert.objects.all()
    assert 400 < (alert.worst_value or 0) < 430  # km from Oslo
    assert "left the area within 50 km" in alert.message


def test_a_silent_lot_raises_once_and_ends_when_heard_from(reporter: Organisation) -> None:
    rule = rule_create(
        organisation=reporter, name="logger alive", kind="device_silent", duration_s=600,
        lot_ids=[101, 102], quarantine=False,
    )  # fmt: skip
    Rule.objects.filter(pk=rule.pk).update(created_at=T0 - timedelta(hours=1))
    read([101], (0, TEMP, 5, "CEL"))
    read([102], (25, TEMP, 5, "CEL"))
    now = T0 + timedelta(minutes=30)
    (alert,) = silence_evaluate(now=now)
    assert alert.lot_ids == [101]
    assert alert.started_at == T0
    assert alert.worst_value == 30  # minutes silent
    assert silence_evaluate(now=now + timedelta(minutes=4)) == []  # lot 102: 9 minutes
    assert not quarantines()  # the rule only alerts
    read([101], (40, TEMP, 5, "CEL"))
    alert.refresh_from_db()
    assert alert.ended_at == T0 + timedelta(minutes=40)
    (again,) = silence_evaluate(now=T0 + timedelta(minutes=60))
    assert again.lot_ids == [101, 102]


def test_scopes_product_line_and_shipment(reporter: Organisation) -> None:
    chain_id = settings.CHAIN_ID
    for lot_id, line in ((201, "insulin"), (202, "apples")):
        LotMetadata.objects.create(
            chain_id=chain_id, lot_id=lot_id, document={"name": "x", "product_line": line},
            metadata_hash="0x" + "00" * 32,
        )  # fmt: skip
    for bundle, lot in ((300, 301), (301, 302)):  # lot 302 in case 301 on pallet 300
        BundleContent.objects.create(
            chain_id=chain_id, block_from=1, log_from=0, bundle_id=bundle, lot_id=lot, quantity=1
        )
    cold_rule(reporter, [], product_line="insulin", duration_s=0)
    cold_rule(reporter, [], bundle_id=300, duration_s=0, name="pallet 300")
    read([201, 202, 302, 999], (0, TEMP, 9, "CEL"))
    alerts = {a.rule_name: a.lot_ids for a in Alert.objects.all()}
    assert alerts == {"vaccines": [201], "pallet 300": [302]}


def test_one_breach_queues_one_quarantine_per_lot(reporter: Organisation) -> None:
    cold_rule(reporter, [101, 102, 103], duration_s=0)
    batch = [(0, TEMP, 9, "CEL"), (1, TEMP, 10, "CEL")]
    read([101, 102, 103], *batch)
    read([101, 102, 103], *batch)  # the same readings again (a replayed batch)
    (alert,) = Alert.objects.all()
    assert alert.lot_ids == [101, 102, 103]
    assert [int(o.lot_id or 0) for o in quarantines()] == [101, 102, 103]
    assert sorted(alert.operation_ids) == sorted(str(o.id) for o in quarantines())
    # Another rule breached on a lot this alert quarantines: an alert, no second quarantine.
    rule_create(
        organisation=reporter, name="drops", kind="shock_above", threshold=Decimal(3),
        lot_ids=[101],
    )  # fmt: skip
    read([101], (2, SHOCK, 6, "K40"))
    shock = Alert.objects.get(kind="shock_above")
    assert shock.quarantined_lot_ids == []
    assert len(quarantines()) == 3
    assert "Already quarantined: 101" in Notification.objects.get(key=f"alert:{shock.pk}").body


def test_a_batch_costs_a_fixed_number_of_queries(reporter: Organisation) -> None:
    cold_rule(reporter, [101, 102], duration_s=3600)
    rule_create(
        organisation=reporter, name="drops", kind="shock_above", threshold=Decimal(3),
        lot_ids=[101],
    )  # fmt: skip

    def batch(start: int, size: int) -> int:
        points = [(start + i / 10, TEMP, 5 + (i % 7), "CEL") for i in range(size)]
        with CaptureQueriesContext(connection) as queries:
            read([101, 102], *points)
        return len(queries)

    small, large = batch(0, 10), batch(10, 500)
    assert small == large <= 8


def test_a_quarantine_needs_the_reporter_role() -> None:
    shipper = organisation("shipper", Role.DISTRIBUTOR)
    with pytest.raises(ValidationError) as refused:
        cold_rule(shipper, [101])
    assert "REPORTER" in str(refused.value)
    assert not Rule.objects.exists()
    cold_rule(shipper, [101], duration_s=0, quarantine=False)
    read([101], (0, TEMP, 9, "CEL"))
    assert Alert.objects.get().quarantined_lot_ids == []
    assert not quarantines()


# ------------------------------------------------------------------------------------ API


def token(org: Organisation) -> Client:
    plain, _ = api_token_create(organisation=org, name="erp")
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "temperature_above", "threshold": 8, "lot_ids": [1]}, "name"),
        ({"name": "x", "kind": "melting", "threshold": 8, "lot_ids": [1]}, "kind"),
        ({"name": "x", "kind": "temperature_above", "lot_ids": [1]}, "threshold"),
        ({"name": "x", "kind": "humidity_above", "threshold": 120, "lot_ids": [1]}, "threshold"),
        ({"name": "x", "kind": "temperature_above", "threshold": 8}, "scope"),
        (
            {
                "name": "x",
                "kind": "temperature_above",
                "threshold": 8,
                "lot_ids": [1],
                "product_line": "insulin",
            },
            "scope",
        ),
        ({"name": "x", "kind": "geofence_exit", "latitude": 91, "lot_ids": [1]}, "latitude"),
        (
            {
                "name": "x",
                "kind": "geofence_exit",
                "latitude": 1,
                "longitude": 1,
                "radius_km": 0,
                "lot_ids": [1],
            },
            "radius_km",
        ),
        ({"name": "x", "kind": "device_silent", "duration_s": 5, "lot_ids": [1]}, "duration_s"),
        ({"name": "x", "kind": "shock_above", "threshold": 3, "lot_ids": [-1]}, "lot_ids"),
        (
            {"name": "x", "kind": "shock_above", "threshold": 3, "duration_s": -1, "lot_ids": [1]},
            "duration_s",
        ),
    ],
)
def test_bad_rule_input_is_refused_and_nothing_stored(
    reporter: Organisation, body: dict[str, Any], field: str
) -> None:
    response = token(reporter).post(
        "/api/v1/rules", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=KEY
    )
    assert response.status_code == 400, response.content
    problem = response.json()
    assert field in problem["errors"], problem
    assert not Rule.objects.exists()


def test_rules_and_alerts_over_the_api_stay_within_the_organisation(
    reporter: Organisation,
) -> None:
    client = token(reporter)
    body = {"name": "vaccines", "kind": "temperature_above", "threshold": "8", "duration_s": 0,
            "lot_ids": [101]}  # fmt: skip
    unkeyed = client.post("/api/v1/rules", body, content_type="application/json")
    assert unkeyed.status_code == 400
    assert not Rule.objects.exists()
    created = client.post(
        "/api/v1/rules", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=KEY
    )
    assert created.status_code == 201, created.content
    rule = created.json()
    again = client.post(
        "/api/v1/rules", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=KEY
    )
    assert again.json()["id"] == rule["id"]
    assert Rule.objects.count() == 1
    assert rule["description"] == "temperature above 8 °C"
    assert rule["lot_ids"] == ["101"]
    assert [r["id"] for r in client.get("/api/v1/rules").json()] == [rule["id"]]
    read([101], (0, TEMP, 9, "CEL"))
    alert_id = Alert.objects.get().pk
    listed = client.get("/api/v1/alerts?state=open").json()["results"]
    assert [a["id"] for a in listed] == [alert_id]
    detail = client.get(f"/api/v1/alerts/{alert_id}").json()
    assert detail["lot_ids"] == ["101"]
    assert detail["quarantined_lot_ids"] == ["101"]
    assert client.get("/api/v1/alerts?state=shut").status_code == 400

    other = token(organisation("rival", Role.REPORTER))
    assert other.get(f"/api/v1/alerts/{alert_id}").status_code == 404
    assert other.get(f"/api/v1/rules/{rule['id']}").status_code == 404
    assert other.delete(f"/api/v1/rules/{rule['id']}").status_code == 404
    refused = other.post(
        f"/api/v1/alerts/{alert_id}/clear",
        {"reason": "x"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=KEY,
    )
    assert refused.status_code == 404
    assert other.get("/api/v1/alerts").json()["results"] == []
    assert Rule.objects.count() == 1

    assert client.delete(f"/api/v1/rules/{rule['id']}").status_code == 204
    assert not Rule.objects.exists()
    assert Alert.objects.get().rule_name == "vaccines"  # the alert stays


def test_clearing_needs_a_person_with_the_role_and_a_reason(reporter: Organisation) -> None:
    cold_rule(reporter, [101], duration_s=0)
    read([101], (0, TEMP, 9, "CEL"))
    alert = Alert.objects.get()
    url = f"/api/v1/alerts/{alert.pk}/clear"

    def clear(client: Client, reason: str) -> Any:
        return client.post(
            url, {"reason": reason}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=KEY
        )

    assert clear(token(reporter), "checked").status_code == 403  # a system, not a person
    member_invite(organisation=reporter, username="driver", password="x-long-password-1")
    member_invite(
        organisation=reporter, username="quality", password="x-long-password-1", is_admin=True
    )
    driver, quality = Client(), Client()
    assert driver.login(username="driver", password="x-long-password-1")
    assert quality.login(username="quality", password="x-long-password-1")
    assert clear(driver, "checked").status_code == 403
    assert clear(quality, "  ").status_code == 400
    # The quarantine has not reached the chain yet: nothing to lift, refused.
    on_its_way = clear(quality, "probe was outside the box")
    assert on_its_way.status_code == 400
    assert "on its way" in on_its_way.json()["detail"]
    alert.refresh_from_db()
    assert alert.state == "open"
    assert alert.clear_operation_ids == []
    assert not Operation.objects.filter(action="lot.clear_quarantine").exists()


def test_the_beat_runs_the_silence_check(reporter: Organisation) -> None:
    from workers.tasks import monitoring_silence

    schedule = settings.CELERY_BEAT_SCHEDULE["monitoring-silence"]
    assert schedule["task"] == "workers.tasks.monitoring_silence"
    rule = rule_create(
        organisation=reporter, name="logger alive", kind="device_silent", duration_s=600,
        lot_ids=[101], quarantine=False,
    )  # fmt: skip
    Rule.objects.filter(pk=rule.pk).update(created_at=T0)
    assert monitoring_silence() == 1
    assert monitoring_silence() == 0


def test_the_alerts_page_lists_and_clears(reporter: Organisation) -> None:
    cold_rule(reporter, [101], duration_s=0)
    read([101], (0, TEMP, 9, "CEL"))
    alert = Alert.objects.get()
    member_invite(
        organisation=reporter, username="quality", password="x-long-password-1", is_admin=True
    )
    member_invite(organisation=reporter, username="driver", password="x-long-password-1")
    quality, driver = Client(), Client()
    assert quality.login(username="quality", password="x-long-password-1")
    assert driver.login(username="driver", password="x-long-password-1")
    page = quality.get("/alerts").content.decode()
    assert f'id="alert-{alert.pk}"' in page
    assert "temperature above 8 °C" in page
    assert f"/alerts/{alert.pk}/clear" not in driver.get("/alerts").content.decode()
    url = f"/alerts/{alert.pk}/clear"
    refused = driver.post(url, {"reason": "fine"}, follow=True).content.decode()
    assert "admin or quality manager" in refused
    # The quarantine was mined: clearing queues its lifting, signed by the reporter.
    Operation.objects.filter(id__in=alert.operation_ids).update(
        status=Operation.Status.CONFIRMED, mined_block=5
    )
    done = quality.post(url, {"reason": "probe outside the box"}, follow=True).content.decode()
    assert f"Alert {alert.pk} cleared" in done
    alert.refresh_from_db()
    assert alert.state == "cleared"
    assert alert.clear_reason == "probe outside the box"
    (lift,) = Operation.objects.filter(action="lot.clear_quarantine")
    assert lift.call == {
        "contract": "Lots",
        "function": "clearQuarantine",
        "args": [101, "probe outside the box"],
    }
    assert lift.sender == reporter.address
    assert [str(lift.id)] == alert.clear_operation_ids
