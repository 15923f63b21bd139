"""Device readings over MQTT: signed, checked and stored, from a separate publisher process.

1. Recreates and migrates the database in DATABASE_URL (default postgres://postgres@
   127.0.0.1:5432/provenant_bench_ingest), registers one organisation with --devices
   devices (half Ed25519, half ECDSA P-256), each attached to a lot on the mirror.
2. Starts a private Mosquitto with the project's config (deploy/local/mosquitto) on a free
   port, its password file and ACL written from the device registry, and --ingests
   `manage.py ingest_readings` processes (shards i/n of the devices).
3. Signs --readings readings ahead of time, then a publisher process per device group
   (multiprocessing) publishes them at QoS 1 with each device's own credentials.
4. Prints ``ingest_readings_per_s: N``: readings stored (raw log and one sensor reading per
   attached lot, through `sensor_readings_record`) per second, from the first publish to
   the last reading committed; and ``ingest_refused: N`` (should be 0).

    python bench/ingest.py [--readings 50000] [--devices 8] [--ingests 2]
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/provenant_bench_ingest")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

from bench.indexer import recreate_database
from deploy.local.mosquitto.broker import MosquittoBroker

ROOT = Path(__file__).resolve().parent.parent
INGEST_PASSWORD = "bench-ingest"


def publish(port: int, username: str, password: str, payloads: list[bytes], ready: Any) -> None:
    """One device group's publisher: connects, waits for the start, publishes at QoS 1 and
    waits for every acknowledgement."""
    import paho.mqtt.client as mqtt

    topic = "provenant/{}/devices/{}/readings".format(*username.split("/"))
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=username.replace("/", "-"), protocol=mqtt.MQTTv5
    )
    client.username_pw_set(username, password)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    ready.wait(30)
    infos = [client.publish(topic, payload, qos=1) for payload in payloads]
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def register_devices(count: int) -> list[tuple[Any, str, Any]]:
    """`count` devices of one organisation, each attached to a lot on the mirror."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from django.conf import settings

    from webapp.monitoring.devices import device_register
    from webapp.organisations.models import Organisation
    from webapp.projections.models import LotVersion

    org = Organisation.objects.create(name="Cold chain", slug="coldchain")
    devices = []
    for i in range(count):
        LotVersion.objects.create(
            chain_id=settings.CHAIN_ID,
            block_from=1,
            log_from=0,
            lot_id=1000 + i,
            kind=1,
            creator="0x" + "22" * 20,
            quantity=100,
            metadata_hash="0x" + "00" * 32,
            gs1_key_hash="0x" + "00" * 32,
        )
        kind = "ed25519" if i % 2 == 0 else "p256"
        private: Any = (
            ed25519.Ed25519PrivateKey.generate()
            if kind == "ed25519"
            else ec.generate_private_key(ec.SECP256R1())
        )
        pem = (
            private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        registered = device_register(
            organisation=org,
            device_id=f"pallet-{i}",
            key_type=kind,
            public_key=pem,
            lot_ids=[1000 + i],
        )
        devices.append((registered, kind, private))
    return devices


def measure(port: int, batches: list[Any], total: int) -> tuple[int, float, float]:
    """Publish every batch from its own process; (readings stored, seconds from the first
    publish to the last stored, seconds until the publishers were done)."""
    from webapp.monitoring.models import DeviceReading

    ready = multiprocessing.get_context("spawn").Event()
    context = multiprocessing.get_context("spawn")
    publishers = [
        context.Process(target=publish, args=(port, user, password, payloads, ready))
        for user, password, payloads in batches
    ]
    for process in publishers:
        process.start()
    time.sleep(2.0)  # connected
    began = time.monotonic()
    ready.set()
    deadline = began + 300
    published = 0.0
    while DeviceReading.objects.count() < total and time.monotonic() < deadline:
        if not published and not any(p.is_alive() for p in publishers):
            published = time.monotonic() - began
        time.sleep(0.02)
    elapsed = time.monotonic() - began
    published = published or elapsed
    stored = DeviceReading.objects.count()
    for process in publishers:
        process.join(30)
    return stored, elapsed, published


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readings", type=int, default=50_000)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--ingests", type=int, default=2)
    args = parser.parse_args()

    recreate_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from django.conf import settings
    from django.core.management import call_command

    from webapp.monitoring.broker import broker_sync
    from webapp.monitoring.models import Device, SensorReading
    from webapp.monitoring.payload import canonical_bytes

    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp) / "mosquitto")
        settings.MQTT_BROKER_DIR = str(broker.directory)
        settings.MQTT_INGEST_PASSWORD = INGEST_PASSWORD
        devices = register_devices(args.devices)
        broker.write_config()
        broker_sync()
        broker.start()

        per_device = args.readings // args.devices
        start = datetime.now(UTC) - timedelta(minutes=30)
        batches = []
        for registered, kind, private in devices:
            payloads = []
            for seq in range(1, per_device + 1):
                body = {
                    "device": registered.device.device_id,
                    "seq": seq,
                    "time": (start + timedelta(milliseconds=seq)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "type": "gs1:Temperature",
                    "value": round(2 + (seq % 60) / 10, 1),
                    "unit": "CEL",
                }
                data = canonical_bytes(body)
                sig = (
                    private.sign(data)
                    if kind == "ed25519"
                    else private.sign(data, ec.ECDSA(hashes.SHA256()))
                )

                body["sig"] = base64.b64encode(sig).decode()
                payloads.append(json.dumps(body).encode())
            batches.append((registered.mqtt_username, registered.mqtt_password, payloads))
        total = per_device * args.devices

        env = {**os.environ, "PROVENANT_MQTT_INGEST_PASSWORD": INGEST_PASSWORD}
        ingests = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "manage.py"),
                    "ingest_readings",
                    f"--port={broker.port}",
                    f"--shard={i}/{args.ingests}",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
            )
            for i in range(args.ingests)
        ]
        log = broker.directory / "mosquitto.log"
        deadline = time.monotonic() + 30
        while log.read_text().count("u'provenant-ingest'") < args.ingests:
            if time.monotonic() > deadline:
                raise SystemExit("the ingests did not connect")
            time.sleep(0.1)
        time.sleep(0.5)  # subscribed

        stored, elapsed, published = measure(broker.port, batches, total)
        for process in ingests:
            process.send_signal(signal.SIGTERM)
        for process in ingests:
            process.wait(30)
        refused = sum(sum(d.rejected.values()) for d in Device.objects.all())
        sensor = SensorReading.objects.filter(source="device").count()
        broker.stop()

    print(f"ingest_readings: {stored} of {total} ({sensor} sensor readings)")
    print(f"ingest_readings_per_s: {stored / elapsed:.0f}")
    print(f"ingest_refused: {refused}")
    print(f"ingest_publish_s: {published:.2f} (publishers done) of {elapsed:.2f}")


if __name__ == "__main__":
    main()
