"""The MQTT ingest against a real, private Mosquitto with the project's config: devices
authenticate with their own credentials and may publish only to their own topic; readings
are checked and stored; refusals are counted; a broker restart mid-stream loses nothing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from deploy.local.mosquitto.broker import MosquittoBroker
from tests.webapp.devices_world import (
    INGEST_PASSWORD,
    DeviceKey,
    Publisher,
    lot_on_mirror,
    organisation,
    private_broker,
    reading,
)
from webapp.monitoring.devices import Registered, device_register, device_revoke
from webapp.monitoring.models import Device, DeviceReading, SensorReading
from webapp.monitoring.mqtt import ReadingSubscriber

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker(tmp_path: Path, settings: Any) -> Iterator[MosquittoBroker]:
    yield from private_broker(tmp_path / "mosquitto", settings)


class Ingest:
    """`ReadingSubscriber.run` in a thread, as `manage.py ingest_readings` runs it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> Ingest:
        self.subscriber = ReadingSubscriber(
            host="127.0.0.1",
            port=self.port,
            username="provenant-ingest",
            password=INGEST_PASSWORD,
            client_id="ingest-test",
            batch_wait=0.02,
        )
        self.subscriber.start(timeout=10)
        self.stop.clear()

        def run() -> None:
            try:
                self.subscriber.run(self.stop, idle_wait=0.1)
            finally:
                connection.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return self

    def halt(self) -> None:
        self.stop.set()
        if self.thread:
            self.thread.join(10)
            assert not self.thread.is_alive()


@pytest.fixture
def ingest(broker: MosquittoBroker) -> Iterator[Ingest]:
    running = Ingest(broker.port).start()
    yield running
    running.halt()


def until(check: Callable[[], bool], *, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def topic(slug: str, device: str) -> str:
    return f"provenant/{slug}/devices/{device}/readings"


def device(slug: str, device_id: str, key: DeviceKey, lots: list[int]) -> Registered:
    org = organisation(slug, 0xA1) if slug == "alpha" else organisation(slug, 0xB2)
    return device_register(
        organisation=org,
        device_id=device_id,
        key_type=key.kind,
        public_key=key.public_pem,
        lot_ids=lots,
    )


def publisher(broker: MosquittoBroker, registered: Registered) -> Publisher:
    found = Publisher(broker.port, registered.mqtt_username, registered.mqtt_password)
    assert found.connect(), found.refused
    return found


def test_readings_published_by_a_device_are_checked_and_stored(
    broker: MosquittoBroker, ingest: Ingest
) -> None:
    lot = lot_on_mirror(12)
    key = DeviceKey("p256")
    registered = device("alpha", "pallet-7", key, [lot])
    pub = publisher(broker, registered)
    for seq in range(1, 11):
        pub.publish(topic("alpha", "pallet-7"), key.sign(reading("pallet-7", seq)))
    assert until(lambda: SensorReading.objects.filter(lot_id=lot).count() == 10)
    dev = Device.objects.get()
    assert (dev.last_seq, dev.accepted_count) == (10, 10)
    evidence = DeviceReading.objects.get(seq=10)
    assert '"sig"' in evidence.payload
    pub.close()


def test_a_device_cannot_publish_to_another_devices_topic(
    broker: MosquittoBroker, ingest: Ingest
) -> None:
    lot = lot_on_mirror(12)
    key_a, key_b = DeviceKey(), DeviceKey()
    a = device("alpha", "pallet-7", key_a, [lot])
    device_register(
        organisation=a.device.organisation,
        device_id="pallet-8",
        key_type="ed25519",
        public_key=key_b.public_pem,
        lot_ids=[lot],
    )
    pub = publisher(broker, a)
    # pallet-7 speaks as pallet-8 on pallet-8's topic: the broker drops it (ACL)
    info = pub.publish(topic("alpha", "pallet-8"), key_a.sign(reading("pallet-8", 1)))
    info.wait_for_publish(5)
    # a marker on its own topic shows the ingest has caught up
    pub.publish(topic("alpha", "pallet-7"), key_a.sign(reading("pallet-7", 1)))
    assert until(lambda: DeviceReading.objects.count() == 1)
    time.sleep(0.5)
    assert list(DeviceReading.objects.values_list("device__device_id", "seq")) == [("pallet-7", 1)]
    assert Device.objects.get(device_id="pallet-8").rejected == {}
    # a reading naming another device on its own topic: refused as a topic mismatch
    pub.publish(topic("alpha", "pallet-7"), key_b.sign(reading("pallet-8", 2)))
    assert until(lambda: Device.objects.get(device_id="pallet-7").rejected != {})
    assert Device.objects.get(device_id="pallet-7").rejected == {"topic_mismatch": 1}
    assert Device.objects.get(device_id="pallet-8").last_seq == 0
    pub.close()


def test_refused_readings_are_counted_and_change_nothing(
    broker: MosquittoBroker, ingest: Ingest
) -> None:
    lot = lot_on_mirror(12)
    key = DeviceKey()
    registered = device("alpha", "pallet-7", key, [lot])
    pub = publisher(broker, registered)
    t = topic("alpha", "pallet-7")
    pub.publish(t, key.sign(reading("pallet-7", 5)))
    assert until(lambda: DeviceReading.objects.count() == 1)
    pub.publish(t, {**key.sign(reading("pallet-7", 6)), "value": 30})  # forged
    pub.publish(t, key.sign(reading("pallet-7", 7, unit="P1")))  # wrong unit
    pub.publish(t, key.sign(reading("pallet-7", 8, value=151)))  # out of range
    pub.publish(t, key.sign(reading("pallet-7", 5)))  # duplicate
    pub.publish(t, key.sign(reading("pallet-7", 4)))  # out of order
    pub.publish(t, key.sign(reading("pallet-7", 9, ago=__import__("datetime").timedelta(days=2))))
    expected = {
        "bad_signature": 1,
        "wrong_unit": 1,
        "out_of_range": 1,
        "duplicate": 1,
        "out_of_order": 1,
        "replayed_old": 1,
    }
    assert until(lambda: Device.objects.get().rejected == expected), Device.objects.get().rejected
    dev = Device.objects.get()
    assert (dev.last_seq, dev.accepted_count) == (5, 1)
    assert DeviceReading.objects.count() == 1
    assert SensorReading.objects.count() == 1
    pub.close()


def test_a_revoked_device_is_refused(broker: MosquittoBroker, ingest: Ingest) -> None:
    lot = lot_on_mirror(12)
    key = DeviceKey()
    registered = device("alpha", "pallet-7", key, [lot])
    pub = publisher(broker, registered)
    pub.publish(topic("alpha", "pallet-7"), key.sign(reading("pallet-7", 1)))
    assert until(lambda: DeviceReading.objects.count() == 1)
    device_revoke(device=registered.device)  # the broker is told (SIGHUP)
    time.sleep(0.5)
    pub.publish(topic("alpha", "pallet-7"), key.sign(reading("pallet-7", 2)))
    time.sleep(1.0)
    pub.close()
    again = Publisher(broker.port, registered.mqtt_username, registered.mqtt_password, "again")
    assert not again.connect(timeout=3)
    again.close()
    assert DeviceReading.objects.count() == 1
    assert Device.objects.get().last_seq == 1


def test_a_broker_restart_mid_stream_loses_nothing(broker: MosquittoBroker) -> None:
    lot = lot_on_mirror(12)
    key = DeviceKey()
    registered = device("alpha", "pallet-7", key, [lot])
    ingest = Ingest(broker.port).start()  # the session exists from now on
    ingest.halt()  # ... and the ingest is away: the broker keeps its readings
    pub = publisher(broker, registered)
    t = topic("alpha", "pallet-7")
    sent = [pub.publish(t, key.sign(reading("pallet-7", seq))) for seq in range(1, 51)]
    for info in sent:
        info.wait_for_publish(5)
    broker.restart()  # same port, same persistence
    # the device keeps publishing: its client queues while the broker is away
    for seq in range(51, 101):
        pub.publish(t, key.sign(reading("pallet-7", seq)))
    ingest = Ingest(broker.port).start()
    try:
        assert until(lambda: DeviceReading.objects.count() == 100, timeout=30), (
            DeviceReading.objects.count()
        )
        broker.restart()  # and once more while the ingest is running
        for seq in range(101, 151):
            pub.publish(t, key.sign(reading("pallet-7", seq)))
        assert until(lambda: DeviceReading.objects.count() == 150, timeout=30)
    finally:
        ingest.halt()
        pub.close()
    assert Device.objects.get().last_seq == 150
    assert SensorReading.objects.filter(lot_id=lot).count() == 150


def test_the_https_gateway_stores_what_mqtt_would(broker: MosquittoBroker) -> None:
    from webapp.organisations.services import api_token_create

    lot = lot_on_mirror(12)
    key = DeviceKey()
    registered = device("alpha", "pallet-7", key, [lot])
    token, _ = api_token_create(organisation=registered.device.organisation, name="gw")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = {"readings": [key.sign(reading("pallet-7", 1)), key.sign(reading("pallet-7", 1))]}
    answer = client.post(
        "/api/v1/devices/readings",
        body,
        content_type="application/json",
        headers={"Idempotency-Key": "batch-1"},
    )
    assert answer.status_code == 200, answer.content
    assert [r["reason"] for r in answer.json()["results"]] == ["", "duplicate"]
    assert SensorReading.objects.filter(lot_id=lot, source="device").count() == 1


def test_the_ingest_command_stores_readings_and_stops_cleanly_on_sigterm(
    broker: MosquittoBroker,
) -> None:
    import os
    import signal
    import subprocess
    import sys

    lot = lot_on_mirror(12)
    key = DeviceKey()
    registered = device("alpha", "pallet-7", key, [lot])
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PROVENANT_MQTT_INGEST_PASSWORD": INGEST_PASSWORD,
    }
    command = [sys.executable, "manage.py", "ingest_readings", f"--port={broker.port}"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        log = broker.directory / "mosquitto.log"
        assert until(lambda: "as provenant-ingest-0-of-1" in log.read_text(), timeout=20)
        time.sleep(0.5)  # and subscribed
        pub = publisher(broker, registered)
        for seq in (1, 2, 3):
            pub.publish(topic("alpha", "pallet-7"), key.sign(reading("pallet-7", seq)))
        assert until(lambda: DeviceReading.objects.count() == 3, timeout=20)
        pub.close()
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "stopped: 3 accepted, 0 refused" in out


def test_a_batch_from_many_devices_is_stored_in_a_fixed_number_of_queries() -> None:
    from django.test.utils import CaptureQueriesContext

    from webapp.monitoring.anchoring import readings_queue  # noqa: F401  (hook registered)
    from webapp.monitoring.ingest import Incoming, readings_ingest
    from webapp.monitoring.models import AnchoredReading

    keys = {f"pallet-{i}": DeviceKey("ed25519" if i % 2 else "p256") for i in range(8)}
    org = organisation("alpha", 0xA1)
    for i, (device_id, key) in enumerate(keys.items()):
        lots = [lot_on_mirror(100 + i)] + ([lot_on_mirror(200 + i)] if i < 2 else [])
        device_register(
            organisation=org, device_id=device_id, key_type=key.kind,
            public_key=key.public_pem, lot_ids=lots,
        )  # fmt: skip

    def batch(first_seq: int, per_device: int) -> int:
        incoming = [
            Incoming(json.dumps(key.sign(reading(device_id, seq))), "alpha", device_id)
            for seq in range(first_seq, first_seq + per_device)
            for device_id, key in keys.items()
        ]
        with CaptureQueriesContext(connection) as queries:
            outcomes = readings_ingest(incoming)
        assert [o.reason for o in outcomes] == [""] * len(incoming)
        return len(queries)

    batch(1, 1)  # the first also makes the month's partition of the log
    small, large = batch(2, 1), batch(3, 40)
    assert small == large
    # each reading once per lot its device is attached to (two devices watch two lots)
    assert SensorReading.objects.count() == 42 * 8 + 42 * 2
    pallet_1 = SensorReading.objects.filter(device_id="pallet-1")
    assert set(pallet_1.values_list("lot_id", flat=True)) == {101, 201}
    assert AnchoredReading.objects.count() == SensorReading.objects.count()
    assert [d.last_seq for d in Device.objects.order_by("device_id")] == [42] * 8


def test_a_reading_that_breaks_a_hook_is_refused_alone_and_the_shard_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.db import OperationalError

    from webapp.monitoring import services
    from webapp.monitoring.ingest import Incoming, readings_ingest_isolated

    keys = {name: DeviceKey("p256") for name in ("pallet-1", "pallet-2", "pallet-bad")}
    org = organisation("alpha", 0xA1)
    for i, (device_id, key) in enumerate(keys.items()):
        device_register(
            organisation=org, device_id=device_id, key_type=key.kind,
            public_key=key.public_pem, lot_ids=[lot_on_mirror(300 + i)],
        )  # fmt: skip

    def breaks_on(device_id: str, error: type[Exception]) -> Any:
        def hook(rows: Any) -> None:
            if any(r.device_id == device_id for r in rows):
                raise error("the rule cannot read this reading")

        return hook

    monkeypatch.setattr(
        services,
        "_readings_hooks",
        [*services._readings_hooks, breaks_on("pallet-bad", ValueError)],
    )
    incoming = [
        Incoming(json.dumps(key.sign(reading(device_id, seq))), "alpha", device_id)
        for seq in (1, 2)
        for device_id, key in keys.items()
    ]
    outcomes = readings_ingest_isolated(incoming)
    assert [(o.device, o.seq, o.reason) for o in outcomes] == [
        (device_id, seq, "store_failed" if device_id == "pallet-bad" else "")
        for seq in (1, 2)
        for device_id in keys
    ]
    stored = sorted(SensorReading.objects.values_list("device_id", "device_seq"))
    assert stored == [("pallet-1", 1), ("pallet-1", 2), ("pallet-2", 1), ("pallet-2", 2)]
    bad = Device.objects.get(device_id="pallet-bad")
    assert (bad.rejected, bad.last_seq) == ({"store_failed": 2}, 0)

    # An unavailable database is not a reading's fault: the batch raises, unacknowledged.
    monkeypatch.setattr(services, "_readings_hooks", [breaks_on("pallet-1", OperationalError)])
    again = [
        Incoming(json.dumps(keys["pallet-1"].sign(reading("pallet-1", 3))), "alpha", "pallet-1")
    ]
    with pytest.raises(OperationalError):
        readings_ingest_isolated(again)
    assert SensorReading.objects.filter(device_id="pallet-1").count() == 2
