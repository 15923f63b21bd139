"""Breach latency: from a device's reading to the alert, and to the quarantine on chain.

1. Recreates and migrates the database in DATABASE_URL (default postgres://postgres@
   127.0.0.1:5432/provenant_bench_alerts; its name must contain "bench"), starts anvil
   with 1-second blocks, deploys the system and onboards the test consortium
   (`tests.webapp.network.Network`, keystore-file keys) plus a REPORTER, "Cold Chain
   Watch". The mine registers --breaches lots on chain; the reporter registers one Ed25519
   device per lot and a rule "temperature above 8 °C" (duration 0, quarantine) per lot.
2. Starts a private Mosquitto (deploy/local/mosquitto) on a free port and one
   `manage.py ingest_readings` process.
3. In this process, as the workers do: a worker thread sends every queued operation
   (`operation_send`), follows the sent ones (`operation_track`) and runs the mirror
   pipeline (`chain_sync`), in a loop without pause beyond 50 ms; a watcher thread polls
   the database every 10 ms for new alerts and for lots the mirror shows quarantined.
4. Each device publishes one signed 12 °C reading (QoS 1), one every --every s (0.5).

Prints p50/p95/p99 of ``rule_alert_s`` (publish → the alert is committed and seen) and
``quarantine_confirmed_s`` (publish → the mirror's current version of the lot is
quarantined), all wall-clock times taken in this process.

    python bench/alerts.py [--breaches 40] [--every 0.5]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/provenant_bench_alerts")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

from bench.indexer import recreate_database
from bench.stats import percentile
from deploy.local.mosquitto.broker import MosquittoBroker

ROOT = Path(__file__).resolve().parent.parent
INGEST_PASSWORD = "bench-ingest"
DEADLINE_S = 120.0


def worker(w3: Any, manifest: Any, stop: threading.Event) -> None:
    """Send, track and mirror, as the operations and indexer workers do."""
    from django.db import connection

    from webapp.chain.indexer import ChainIndexer
    from webapp.chain.pipeline import chain_sync
    from webapp.operations.models import Operation
    from webapp.operations.submitter import SubmitLater, operation_send, operation_track

    indexer = ChainIndexer(w3, manifest)
    while not stop.is_set():
        for op_id in (
            Operation.objects.filter(status=Operation.Status.QUEUED)
            .order_by("created_at")
            .values_list("id", flat=True)
        ):
            with contextlib.suppress(SubmitLater):
                operation_send(operation_id=op_id)
        for op_id in Operation.objects.filter(status=Operation.Status.SUBMITTED).values_list(
            "id", flat=True
        ):
            with contextlib.suppress(SubmitLater):
                operation_track(operation_id=op_id)
        chain_sync(indexer=indexer)
        stop.wait(0.05)
    connection.close()


def watcher(lots: list[int], seen: dict[str, dict[int, float]], stop: threading.Event) -> None:
    """Note when each lot's alert and each lot's quarantine are first visible."""
    from django.conf import settings
    from django.db import connection

    from webapp.monitoring.models import Alert
    from webapp.projections.models import LotVersion

    while not stop.is_set():
        alerted = Alert.objects.values_list("lot_ids", flat=True)
        quarantined = LotVersion.objects.filter(
            chain_id=settings.CHAIN_ID, lot_id__in=lots, block_to__isnull=True, quarantined=True
        ).values_list("lot_id", flat=True)
        now = time.time()
        for lot_ids in alerted:
            for lot_id in lot_ids:
                seen["alert"].setdefault(int(lot_id), now)
        for lot_id in quarantined:
            seen["quarantine"].setdefault(int(lot_id), now)
        if len(seen["quarantine"]) == len(lots):
            break
        stop.wait(0.01)
    connection.close()


def setup(tmp: Path, breaches: int) -> tuple[Any, list[int], list[tuple[str, str, Any]]]:
    """The consortium, the lots, the reporter's devices and rules."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from django.core.management import call_command

    from contracts.chain.client import get_web3
    from contracts.chain.domain import Role
    from tests.webapp.network import Network
    from webapp.lots.services import lot_register
    from webapp.monitoring.devices import device_register
    from webapp.monitoring.rule_services import rule_create
    from webapp.organisations.services import organisation_create, organisation_create_key
    from webapp.participants.services import organisation_register

    call_command("migrate", verbosity=0)
    net = Network.create(get_web3(os.environ["PROVENANT_RPC_URL"]), tmp / "deployments")
    monitor = organisation_create(name="Cold Chain Watch", roles=Role.REPORTER, slug="monitor")
    organisation_create_key(organisation=monitor)
    organisation_register(organisation=monitor)
    operations = [
        lot_register(organisation=net.orgs["mine"], name=f"Berries {i}", quantity=100, unit="kg")
        for i in range(breaches)
    ]
    net.settle()
    lots = []
    for operation in operations:
        operation.refresh_from_db()
        lots.append(int(operation.lot_id or 0))
    if not all(lots):
        raise SystemExit("the lots were not registered on chain")
    devices = []
    for i, lot_id in enumerate(lots):
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        registered = device_register(
            organisation=monitor,
            device_id=f"logger-{i}",
            key_type="ed25519",
            public_key=pem.decode(),
            lot_ids=[lot_id],
        )
        rule_create(
            organisation=monitor,
            name=f"Berries {i} at most 8 °C",
            kind="temperature_above",
            threshold=Decimal(8),
            duration_s=0,
            lot_ids=[lot_id],
        )
        devices.append((registered.mqtt_username, registered.mqtt_password, key))
    return net, lots, devices


def reading(username: str, key: Any) -> bytes:
    from webapp.monitoring.payload import canonical_bytes

    body: dict[str, object] = {
        "device": username.split("/")[1],
        "seq": 1,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "type": "gs1:Temperature",
        "value": 12.0,
        "unit": "CEL",
    }
    body["sig"] = base64.b64encode(key.sign(canonical_bytes(body))).decode()
    return json.dumps(body).encode()


def publish_all(port: int, devices: list[tuple[str, str, Any]], every: float) -> list[float]:
    """Each device connects, then publishes its breach; the publish times, in order."""
    import paho.mqtt.client as mqtt

    clients = []
    for username, password, _ in devices:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=username.replace("/", "-"),
            protocol=mqtt.MQTTv5,
        )
        client.username_pw_set(username, password)
        client.connect("127.0.0.1", port)
        client.loop_start()
        clients.append(client)
    time.sleep(1.0)  # connected
    published = []
    for client, (username, _, key) in zip(clients, devices, strict=True):
        payload = reading(username, key)
        topic = "provenant/{}/devices/{}/readings".format(*username.split("/"))
        published.append(time.time())
        client.publish(topic, payload, qos=1)
        time.sleep(every)
    for client in clients:
        client.loop_stop()
        client.disconnect()
    return published


def report(name: str, values: list[float], expected: int) -> None:
    print(f"{name}: {len(values)} of {expected} seen")
    if values:
        for label, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
            print(f"{name}_{label}_s: {percentile(values, q):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--breaches", type=int, default=40)
    parser.add_argument("--every", type=float, default=0.5)
    args = parser.parse_args()

    from deploy.local.node import AnvilNode

    recreate_database(os.environ["DATABASE_URL"])
    with (
        AnvilNode(block_time=1) as node,
        tempfile.TemporaryDirectory() as tmpdir,
    ):
        tmp = Path(tmpdir)
        os.environ["PROVENANT_RPC_URL"] = node.url
        os.environ["PROVENANT_CHAIN_ID"] = str(node.chain_id)
        os.environ["PROVENANT_DEPLOYMENTS_DIR"] = str(tmp / "deployments")
        os.environ["PROVENANT_DATA_DIR"] = str(tmp)
        os.environ["PROVENANT_KEYSTORE_DIR"] = str(tmp / "keys")
        os.environ["PROVENANT_OPERATIONS_DISPATCH"] = "false"
        os.environ["PROVENANT_MQTT_INGEST_PASSWORD"] = INGEST_PASSWORD
        import django

        django.setup()
        from django.conf import settings

        from webapp.monitoring.broker import broker_sync

        broker = MosquittoBroker(tmp / "mosquitto")
        settings.MQTT_BROKER_DIR = str(broker.directory)
        settings.MQTT_INGEST_PASSWORD = INGEST_PASSWORD
        began = time.monotonic()
        net, lots, devices = setup(tmp, args.breaches)
        print(f"alerts_setup_s: {time.monotonic() - began:.1f}", flush=True)
        broker.write_config()
        broker_sync()
        broker.start()
        ingest = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "ingest_readings", f"--port={broker.port}"],
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
        )
        log = broker.directory / "mosquitto.log"
        deadline = time.monotonic() + 30
        while "u'provenant-ingest'" not in log.read_text():
            if time.monotonic() > deadline:
                raise SystemExit("the ingest did not connect")
            time.sleep(0.1)
        time.sleep(0.5)  # subscribed

        stop = threading.Event()
        seen: dict[str, dict[int, float]] = {"alert": {}, "quarantine": {}}
        threads = [
            threading.Thread(target=worker, args=(net.w3, net.manifest, stop)),
            threading.Thread(target=watcher, args=(lots, seen, stop)),
        ]
        for thread in threads:
            thread.start()
        try:
            published = publish_all(broker.port, devices, args.every)
            deadline = time.monotonic() + DEADLINE_S
            while len(seen["quarantine"]) < len(lots) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
            ingest.send_signal(signal.SIGTERM)
            ingest.wait(30)
            broker.stop()

    at = dict(zip(lots, published, strict=True))
    alert = [seen["alert"][i] - at[i] for i in lots if i in seen["alert"]]
    quarantine = [seen["quarantine"][i] - at[i] for i in lots if i in seen["quarantine"]]
    print(f"alerts_breaches: {len(lots)}, one every {args.every:g} s, 1-second blocks")
    report("rule_alert", alert, len(lots))
    report("quarantine_confirmed", quarantine, len(lots))


if __name__ == "__main__":
    main()
