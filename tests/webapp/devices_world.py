"""What the device tests share: device keys that sign readings as a device would, an
organisation with lots on the mirror, a private broker with the project's config, and an
MQTT publisher with a device's credentials."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from django.conf import settings

from deploy.local.mosquitto.broker import MosquittoBroker
from webapp.monitoring.payload import canonical_bytes
from webapp.organisations.models import Organisation
from webapp.projections.models import LotVersion

INGEST_PASSWORD = "ingest-secret"


@dataclass
class DeviceKey:
    kind: str = "ed25519"
    private: Any = None

    def __post_init__(self) -> None:
        if self.private is None:
            self.private = (
                ed25519.Ed25519PrivateKey.generate()
                if self.kind == "ed25519"
                else ec.generate_private_key(ec.SECP256R1())
            )

    @property
    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def sign(self, body: dict[str, Any]) -> dict[str, Any]:
        data = canonical_bytes(body)
        if self.kind == "ed25519":
            sig = self.private.sign(data)
        else:
            sig = self.private.sign(data, ec.ECDSA(hashes.SHA256()))
        return {**body, "sig": base64.b64encode(sig).decode()}


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def reading(
    device: str, seq: int, *, value: float = 4.5, unit: str = "CEL", ago: timedelta = timedelta()
) -> dict[str, Any]:
    return {
        "device": device,
        "seq": seq,
        "time": rfc3339(datetime.now(UTC) - ago),
        "type": "gs1:Temperature",
        "value": value,
        "unit": unit,
    }


def organisation(slug: str, address_byte: int) -> Organisation:
    return Organisation.objects.create(
        name=slug.title(), slug=slug, address="0x" + f"{address_byte:02x}" * 20
    )


def lot_on_mirror(lot_id: int) -> int:
    LotVersion.objects.create(
        chain_id=settings.CHAIN_ID,
        block_from=1,
        log_from=0,
        lot_id=lot_id,
        kind=1,
        creator="0x" + "22" * 20,
        quantity=100,
        metadata_hash="0x" + "00" * 32,
        gs1_key_hash="0x" + "00" * 32,
    )
    return lot_id


def private_broker(directory: Path, settings_: Any) -> Iterator[MosquittoBroker]:
    """A private broker managed by the registry (its files follow the Device table)."""
    settings_.MQTT_BROKER_DIR = str(directory)
    settings_.MQTT_INGEST_USERNAME = "provenant-ingest"
    settings_.MQTT_INGEST_PASSWORD = INGEST_PASSWORD
    from webapp.monitoring.broker import broker_sync

    broker = MosquittoBroker(directory)
    broker.write_config()
    broker_sync()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class Publisher:
    """A device's MQTT connection (QoS 1; it queues while the broker is away)."""

    port: int
    username: str
    password: str
    client_id: str = ""
    refused: list[Any] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id or self.username.replace("/", "-"),
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(self.username, self.password)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.client.on_publish = self._on_publish

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.refused.append(reason)
        else:
            self.connected.set()

    def _on_publish(self, client: Any, userdata: Any, mid: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.refused.append(reason)

    def connect(self, *, timeout: float = 5.0) -> bool:
        self.client.connect_async("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        return self.connected.wait(timeout)

    def publish(self, topic: str, body: dict[str, Any]) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, json.dumps(body), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
