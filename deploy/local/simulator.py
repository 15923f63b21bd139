"""The demo's cold-chain logger: a device that publishes signed readings over MQTT.

ColdChain Sensors (the demo's REPORTER) watches the chips lots the seeded pallet brought
to City Electronics (lots 301-303) with a temperature logger, `cold-room-1`. It reports
every few seconds, about 4 °C; every `--cycle` seconds (10 minutes) a door is left open for
3.5 minutes and the temperature climbs past 8 °C. The rule "above 8 °C for 2 minutes" then
raises an alert and queues an on-chain quarantine of the lots, signed by ColdChain Sensors'
key; until a person clears the alert with a reason (portal /alerts, as the organisation's
admin), the chain refuses any handoff of them.

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
DEVICE = "cold-room-1"
LOTS = [301, 302, 303]


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

    from webapp.monitoring.broker import broker_sync, mosquitto_password_hash
    from webapp.monitoring.devices import device_of, device_register, mqtt_username
    from webapp.monitoring.models import Device
    from webapp.monitoring.rule_services import rule_create
    from webapp.organisations.models import Organisation

    key = _device_key(data_dir / "keys" / f"{DEVICE}.device.key")
    organisation = Organisation.objects.get(slug=REPORTER)
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
        ).device
    password = secrets.token_urlsafe(24)
    Device.objects.filter(pk=device.pk).update(mqtt_password_hash=mosquitto_password_hash(password))
    broker_sync()
    rule_create(
        organisation=organisation,
        name="Chips cold room: above 8 °C for 2 minutes",
        kind="temperature_above",
        threshold=Decimal(8),
        duration_s=120,
        lot_ids=LOTS,
        quarantine=True,
        idempotency_key="demo-cold-room-rule",
    )
    return key, mqtt_username(device), password


def temperature(now: float, cycle: float) -> float:
    """About 4 °C; the door stands open from 55 % to 90 % of every cycle (3.5 minutes of
    the default 10-minute cycle, long enough to breach the 2-minute rule)."""
    phase = (now % cycle) / cycle
    if 0.55 < phase < 0.9:
        return round(11.5 + math.sin(now / 7), 2)
    return round(4.0 + 0.6 * math.sin(now / 11), 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1884)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between readings")
    parser.add_argument("--cycle", type=float, default=600.0, help="seconds between door events")
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
    print(f"simulator: {DEVICE} of {REPORTER} publishing to {topic} every {args.every:g} s")
    try:
        while not stop.is_set():
            now = time.time()
            body: dict[str, object] = {
                "device": DEVICE,
                "seq": int(now * 1000),
                "time": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "type": "gs1:Temperature",
                "value": temperature(now, args.cycle),
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
