"""Device readings over MQTT: signed, checked and stored, from a separate publisher process.

1. Recreates and migrates the database in DATABASE_URL (default postgres://postgres@
   127.0.0.1:5432/provenant_bench_ingest), registers one organisation with --devices
   devices (half Ed25519, half ECDSA P-256), each attached to a lot on the mirror.
2. Starts a private Mosquitto with the project's config (deploy/local/mosquitto) on a free
   port, its password file and ACL written from the device registry, and --ingests
   `manage.py ingest_readings` processes (shards i/n of the devices).
3. Signs --readings readings ahead of time, then a publisher process per device
   (`mosquitto_pub -l`, Mosquitto's C client) publishes them at QoS 1 with the device's
   own credentials.
4. Prints ``ingest_readings_per_s: N``: readings stored (raw log and one sensor reading per
   attached lot, through `sensor_readings_record`) per second, from the first publish to
   the last reading committed; and ``ingest_refused: N`` (should be 0).

    python bench/ingest.py [--readings 50000] [--devices 8] [--ingests 2]
"""

from __future__ import annotations

import argparse
import base64
import json
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


def publisher(port: int, username: str, password: str, payloads: Path) -> subprocess.Popen[bytes]:
    """One device's publisher: Mosquitto's own client (`mosquitto_pub -l`, one message per
    line of `payloads`) at QoS 1 with the device's credentials. A C client, so publishing
    takes little of the CPU the ingest is measured on (the devices are elsewhere in life);
    it exits once every message is acknowledged."""
    topic = "provenant/{}/devices/{}/readings".format(*username.split("/"))
    command = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5"]
    command += ["-i", username.replace("/", "-"), "-u", username, "-P", password]
    command += ["-t", topic, "-q", "1", "-l"]
    return subprocess.Popen(command, stdin=payloads.open("rb"))


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
    """Start every device's publisher; (readings stored, seconds from the first publish to
    the last stored, seconds until the publishers were done)."""
    from webapp.monitoring.models import DeviceReading

    began = time.monotonic()
    publishers = [publisher(port, user, password, payloads) for user, password, payloads in batches]
    deadline = began + 300
    published = 0.0
    while DeviceReading.objects.count() < total and time.monotonic() < deadline:
        if not published and all(p.poll() is not None for p in publishers):
            published = time.monotonic() - began
        time.sleep(0.02)
    elapsed = time.monotonic() - began
    published = published or elapsed
    stored = DeviceReading.objects.count()
    for process in publishers:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    return stored, elapsed, published


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readings", type=int, default=50_000)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--ingests", type=int, default=2)
    parser.add_argument(
        "--shared", action="store_true", help="ingests on a shared subscription, not shards"
    )
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
                payloads.append(json.dumps(body))  # one line: mosquitto_pub -l sends each
            lines = Path(tmp) / f"{registered.device.device_id}.jsonl"
            lines.write_text("\n".join(payloads) + "\n")
            batches.append((registered.mqtt_username, registered.mqtt_password, lines))
        total = per_device * args.devices

        env = {**os.environ, "PROVENANT_MQTT_INGEST_PASSWORD": INGEST_PASSWORD}
        ingests = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "manage.py"),
                    "ingest_readings",
                    f"--port={broker.port}",
                    "--shared" if args.shared else f"--shard={i}/{args.ingests}",
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
