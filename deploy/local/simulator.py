"""The demo's cold-chain logger: a device that publishes signed readings over MQTT.

ColdChain Sensors (the demo's REPORTER) rides a temperature logger, `pallet-logger-1`, on
the refrigerated pallet 401 that EuroLogistics has handed off to City Electronics; it is
attached to the chips lots on the pallet (301-303) and to that handoff. It reports every
few seconds, about 4 °C; about a minute after it starts (and again every `--cycle`
seconds, 10 minutes) a door is left open for 2.5 minutes and the temperature climbs past
8 °C. The rule "above 8 °C for 1 minute" on the pallet then raises an alert and queues an
on-chain quarantine of the pallet's lots, signed by ColdChain Sensors' key; City
Electronics' acceptance of the pallet is refused, naming the lots and the alert, until a
quality manager of ColdChain Sensors (user `quality`) clears the alert with a reason
(portal /alerts or POST /api/v1/alerts/<id>/clear), which lifts the quarantines on chain.

``python -m deploy.local.simulator --port 1884`` (the demo starts it beside the broker and
`manage.py ingest_readings`). The device's key and MQTT password live in the data
directory; the device, its attachment and the rule are made once.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import secrets
import signal
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import django

REPORTER = "coldchain-sensors"
DEVICE = "pallet-logger-1"
#: The refrigerated pallet and the chips lots on it (as the seed packs them).
PALLET = 401
LOTS = [301, 302, 303]
#: When the door opens in each cycle (seconds after the simulator starts) and for how long.
DOOR_OPENS_AT = 60.0
DOOR_OPEN_FOR = 150.0
#: The rule on the pallet: above 8 °C for a minute quarantines its lots.
RULE_NAME = "Pallet 401 cold chain"
RULE_THRESHOLD = Decimal(8)
RULE_DURATION_S = 60


def _device_key(path: Path) -> object:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = ed25519.Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(path, 0o600)
    return key


def prepare(data_dir: Path) -> tuple[object, str, str]:
    """The device (registered once), its MQTT password (new each start) and the rule."""
    from cryptography.hazmat.primitives import serialization
    from django.conf import settings

    from webapp.monitoring.broker import broker_sync, mosquitto_password_hash
    from webapp.monitoring.devices import device_of, device_register, mqtt_username
    from webapp.monitoring.models import Device
    from webapp.monitoring.rule_services import rule_create
    from webapp.organisations.models import Organisation
    from webapp.projections.models import HandoffVersion

    key = _device_key(data_dir / "keys" / f"{DEVICE}.device.key")
    organisation = Organisation.objects.get(slug=REPORTER)
    handoff = (
        HandoffVersion.objects.filter(
            chain_id=settings.CHAIN_ID, lot_id=PALLET, status="open", block_to__isnull=True
        )
        .values_list("handoff_id", flat=True)
        .first()
    )
    device = device_of(organisation=organisation, device_id=DEVICE)
    if device is None:
        public = key.public_key().public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        device = device_register(
            organisation=organisation,
            device_id=DEVICE,
            key_type="ed25519",
            public_key=public.decode(),
            lot_ids=LOTS,
            handoff_id=None if handoff is None else int(handoff),
        ).device
    password = secrets.token_urlsafe(24)
    Device.objects.filter(pk=device.pk).update(mqtt_password_hash=mosquitto_password_hash(password))
    broker_sync()
    rule_create(
        organisation=organisation,
        name=RULE_NAME,
        kind="temperature_above",
        threshold=RULE_THRESHOLD,
        duration_s=RULE_DURATION_S,
        bundle_id=PALLET,
        quarantine=True,
        idempotency_key="demo-pallet-rule",
    )
    return key, mqtt_username(device), password


def temperature(elapsed: float, cycle: float, opens_at: float = DOOR_OPENS_AT) -> float:
    """About 4 °C; `elapsed` seconds after the start, the door stands open from `opens_at`
    to `opens_at` + DOOR_OPEN_FOR of every cycle (2.5 minutes, long enough to breach the
    1-minute rule) and the pallet warms to about 11.5 °C."""
    if opens_at <= elapsed % cycle < opens_at + DOOR_OPEN_FOR:
        return round(11.5 + math.sin(elapsed / 7), 2)
    return round(4.0 + 0.6 * math.sin(elapsed / 11), 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1884)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between readings")
    parser.add_argument("--cycle", type=float, default=600.0, help="seconds between door events")
    parser.add_argument(
        "--door-opens-at",
        type=float,
        default=DOOR_OPENS_AT,
        help="seconds after the start the door first opens",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    django.setup()
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from contracts.chain import settings as chain_settings
    from webapp.monitoring.broker import READINGS_TOPIC
    from webapp.monitoring.payload import canonical_bytes

    key, username, password = prepare(chain_settings.data_dir())
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{REPORTER}-{DEVICE}", protocol=mqtt.MQTTv5
    )
    client.username_pw_set(username, password)
    client.connect(args.host, args.port)
    client.loop_start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    topic = READINGS_TOPIC.format(organisation=REPORTER, device=DEVICE)
    print(
        f"simulator: {DEVICE} of {REPORTER} publishing to {topic} every {args.every:g} s;"
        f" the door opens {args.door_opens_at:g} s from now and every {args.cycle:g} s after"
    )
    started = time.time()
    try:
        while not stop.is_set():
            now = time.time()
            body: dict[str, object] = {
                "device": DEVICE,
                "seq": int(now * 1000),
                "time": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "type": "gs1:Temperature",
                "value": temperature(now - started, args.cycle, args.door_opens_at),
                "unit": "CEL",
            }
            signature = key.sign(canonical_bytes(body))  # type: ignore[attr-defined]
            body["sig"] = base64.b64encode(signature).decode()
            client.publish(topic, json.dumps(body), qos=1).wait_for_publish(timeout=10)
            stop.wait(args.every)
    finally:
        client.loop_stop()
        client.disconnect()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
