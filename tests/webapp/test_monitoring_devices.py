"""The device registry and the HTTPS gateway for readings: register (the MQTT password
once), list, detail, attach, revoke; every reading checked (signature, unit and range,
clock, duplicates and order), a refused one changing nothing but its device's count for
the reason; bad input answers 400 and changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from tests.webapp.devices_world import DeviceKey, lot_on_mirror, organisation, reading
from webapp.monitoring.models import Device, DeviceReading, SensorReading
from webapp.monitoring.payload import (
    DeviceState,
    Refused,
    reading_parse,
    reading_verdict,
)
from webapp.organisations.services import api_token_create

BASE = "/api/v1/devices"
NOW = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


@pytest.mark.unit
@pytest.mark.parametrize("kind", ["ed25519", "p256"])
def test_a_signed_reading_is_accepted_and_a_changed_one_is_not(kind: str) -> None:
    key = DeviceKey(kind)
    state = DeviceState(key=key.private.public_key(), active=True, last_seq=3)
    body = key.sign({**reading("d", 4), "time": "2026-12-03T05:59:00Z"})
    assert reading_verdict(reading_parse(json.dumps(body)), device=state, seen=(), now=NOW) == ""
    forged = {**body, "value": 40.5}
    verdict = reading_verdict(reading_parse(json.dumps(forged)), device=state, seen=(), now=NOW)
    assert verdict == "bad_signature"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"unit": "FAH", "value": 500}, "out_of_range"),
        ({"unit": "KEL"}, "wrong_unit"),
        ({"value": 151}, "out_of_range"),
        ({"type": "gs1:Speed"}, "unknown_type"),
        ({"time": "2026-12-03T06:30:00Z"}, "future_time"),
        ({"time": "2026-12-01T06:00:00Z"}, "replayed_old"),
        ({"seq": 3}, "duplicate"),
        ({"seq": 2}, "out_of_order"),
    ],
)
def test_a_reading_is_refused_with_its_reason(change: dict[str, Any], reason: str) -> None:
    key = DeviceKey()
    state = DeviceState(key=key.private.public_key(), active=True, last_seq=3)
    body = key.sign({**reading("d", 4), "time": "2026-12-03T05:59:00Z", **change})
    parsed = reading_parse(json.dumps(body))
    assert reading_verdict(parsed, device=state, seen={3}, now=NOW) == reason


@pytest.mark.unit
@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"device": "d"}',
        json.dumps({**reading("d", 1), "sig": "!!"}).encode(),
        json.dumps({**reading("d", 1), "time": "2026-12-03T06:00:00+02:00", "sig": ""}).encode(),
        json.dumps({**reading("d", 1), "value": True, "sig": ""}).encode(),
        json.dumps({**reading("d", 1), "lat": 10, "sig": ""}).encode(),
        json.dumps({**reading("d", 1), "extra": 1, "sig": ""}).encode(),
    ],
)
def test_a_malformed_payload_is_refused(raw: bytes) -> None:
    with pytest.raises(Refused) as refused:
        reading_parse(raw)
    assert refused.value.reason == "malformed"


class Api:
    def __init__(self, slug: str, byte: int) -> None:
        self.org = organisation(slug, byte)
        token, _ = api_token_create(organisation=self.org, name="erp")
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def post(self, path: str, body: Any = None, *, key: str | None = "k") -> Any:
        self.keys = getattr(self, "keys", 0) + 1
        headers = {} if key is None else {"Idempotency-Key": f"{key}-{self.keys}"}
        return self.client.post(path, body or {}, content_type="application/json", headers=headers)

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def register(self, device_id: str, key: DeviceKey, **extra: Any) -> dict[str, Any]:
        body = {"device_id": device_id, "key_type": key.kind, "public_key": key.public_pem}
        response = self.post(BASE, {**body, **extra})
        assert response.status_code == 201, response.content
        found: dict[str, Any] = response.json()
        return found

    def send(self, *readings: dict[str, Any]) -> list[dict[str, Any]]:
        response = self.post(f"{BASE}/readings", {"readings": list(readings)})
        assert response.status_code == 200, response.content
        results: list[dict[str, Any]] = response.json()["results"]
        return results


@pytest.fixture
def alpha() -> Api:
    return Api("alpha", 0xA1)


def _state() -> list[Any]:
    return [
        list(Device.objects.values_list("device_id", "last_seq", "accepted_count").order_by("id")),
        DeviceReading.objects.count(),
        SensorReading.objects.count(),
    ]


@pytest.mark.integration
@pytest.mark.django_db
def test_an_organisation_registers_lists_attaches_and_revokes_a_device(alpha: Api) -> None:
    lot = lot_on_mirror(12)
    created = alpha.register("pallet-7", DeviceKey("p256"), lot_ids=[lot])
    assert created["mqtt_username"] == "alpha/pallet-7"
    assert created["mqtt_password"]
    assert created["topic"] == "provenant/alpha/devices/pallet-7/readings"
    assert created["lot_ids"] == ["12"]
    listed = alpha.get(BASE).json()["results"]
    assert [d["device_id"] for d in listed] == ["pallet-7"]
    assert "mqtt_password" not in listed[0]
    assert Device.objects.get().mqtt_password_hash.startswith("$7$")

    lot_on_mirror(13)
    attached = alpha.post(f"{BASE}/pallet-7/attach", {"lot_ids": [13], "bundle_ids": [12]})
    assert attached.status_code == 200, attached.content
    assert attached.json()["lot_ids"] == ["13"]
    assert attached.json()["bundle_ids"] == ["12"]

    revoked = alpha.post(f"{BASE}/pallet-7/revoke")
    assert revoked.json()["state"] == "revoked"
    assert Device.objects.get().mqtt_password_hash == ""


@pytest.mark.integration
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"device_id": "bad/id", "key_type": "ed25519"}, "device id"),
        ({"device_id": "d1", "key_type": "rsa"}, "key_type"),
        ({"device_id": "d1", "key_type": "ed25519", "public_key": "not a key"}, "public key"),
        ({"device_id": "d1", "key_type": "p256"}, "not a ECDSA P-256 key"),
        ({"device_id": "d1", "key_type": "ed25519", "lot_ids": [999]}, "No such lot"),
        ({"device_id": "d1", "key_type": "ed25519", "lot_ids": [-1]}, "lot_ids"),
        ({"device_id": "dup", "key_type": "ed25519"}, "already has a device"),
    ],
)
def test_bad_registrations_answer_400_and_change_nothing(
    alpha: Api, body: dict[str, Any], says: str
) -> None:
    alpha.register("dup", DeviceKey())
    before = _state()
    key = DeviceKey().public_pem
    response = alpha.post(BASE, {"public_key": key, **body})
    assert response.status_code == 400, response.content
    assert says in response.content.decode()
    assert _state() == before


@pytest.mark.integration
@pytest.mark.django_db
def test_another_organisations_device_is_not_found(alpha: Api) -> None:
    alpha.register("pallet-7", DeviceKey())
    beta = Api("beta", 0xB2)
    assert beta.get(f"{BASE}/pallet-7").status_code == 404
    assert beta.post(f"{BASE}/pallet-7/revoke").status_code == 404
    assert alpha.post(f"{BASE}/pallet-7/attach", {"lot_ids": [404]}).status_code == 400
    assert alpha.post(f"{BASE}/readings", {"readings": []}).status_code == 400
    assert alpha.post(f"{BASE}/pallet-7/revoke", key=None).status_code == 400
    assert Device.objects.get().state == "active"


@pytest.mark.integration
@pytest.mark.django_db
def test_the_gateway_answers_each_reading_and_refusals_change_nothing_but_counts(
    alpha: Api,
) -> None:
    lot = lot_on_mirror(12)
    key = DeviceKey()
    alpha.register("pallet-7", key, lot_ids=[lot])
    first = alpha.send(key.sign(reading("pallet-7", 1)), key.sign(reading("pallet-7", 2)))
    assert [r["accepted"] for r in first] == [True, True]
    assert SensorReading.objects.filter(source="device", lot_id=lot).count() == 2
    stored = SensorReading.objects.get(device_seq=2)
    assert (stored.unit, stored.device_id, stored.value) == ("CEL", "pallet-7", 4.5)
    before = _state()

    forged = {**key.sign(reading("pallet-7", 3)), "value": 20}
    refused = alpha.send(
        forged,
        key.sign(reading("pallet-7", 4, unit="FAH", value=900)),
        key.sign(reading("pallet-7", 5, unit="P1")),
        key.sign(reading("pallet-7", 6, value=-90)),
        key.sign(reading("pallet-7", 2)),
        key.sign(reading("pallet-7", 7, ago=timedelta(days=3))),
        DeviceKey().sign(reading("pallet-9", 1)),
    )
    assert [r["reason"] for r in refused] == [
        "bad_signature",
        "out_of_range",
        "wrong_unit",
        "out_of_range",
        "duplicate",
        "replayed_old",
        "unknown_device",
    ]
    assert _state() == before
    device = Device.objects.get()
    assert device.rejected == {
        "bad_signature": 1,
        "out_of_range": 2,
        "wrong_unit": 1,
        "duplicate": 1,
        "replayed_old": 1,
    }

    alpha.post(f"{BASE}/pallet-7/revoke")
    after_revoke = alpha.send(key.sign(reading("pallet-7", 8)))
    assert after_revoke[0]["reason"] == "revoked"
    assert DeviceReading.objects.count() == 2


@pytest.mark.integration
@pytest.mark.django_db
def test_a_large_batch_of_readings_is_stored_whole_with_its_ids() -> None:
    from decimal import Decimal

    from webapp.monitoring.services import Measurement, sensor_readings_record

    measurements = [
        Measurement(
            time=NOW + timedelta(seconds=i),
            type="gs1:Temperature",
            value=Decimal("4.5") + i,
            unit="CEL",
            device_id="pallet-7",
            device_seq=i + 1,
            latitude=Decimal("59.911491") if i % 2 else None,
            longitude=Decimal("10.757933") if i % 2 else None,
        )
        for i in range(40)
    ]
    stored = sensor_readings_record(lot_ids=[12, 13], measurements=measurements, source="device")
    assert len(stored) == 80
    for row in stored:
        again = SensorReading.objects.get(pk=row.pk)
        assert (again.lot_id, again.device_seq, again.value, again.latitude) == (
            row.lot_id,
            row.device_seq,
            row.value,
            row.latitude,
        )
    assert SensorReading.objects.filter(lot_id=13, latitude__isnull=True).count() == 20


@pytest.mark.integration
@pytest.mark.django_db
def test_the_devices_page_shows_refusals_per_reason(alpha: Api) -> None:
    from tests.webapp.portal_subscriptions import member_of

    key = DeviceKey()
    alpha.register("pallet-7", key)
    alpha.send({**key.sign(reading("pallet-7", 1)), "value": 9}, key.sign(reading("pallet-7", 1)))
    browser = member_of(alpha.org, "ola")
    page = browser.get("/devices")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="device-pallet-7"' in html
    assert 'data-reason="bad_signature"' in html
    assert "bad_signature: 1" in html
    other = Api("beta", 0xB2)
    other.register("crate-1", DeviceKey())
    assert "crate-1" not in browser.get("/devices").content.decode()
