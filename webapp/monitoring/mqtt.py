"""The MQTT side of the ingest: one long-running client that takes device readings off the
broker in batches and hands them to `readings_ingest`.

- MQTT 5, QoS 1, a persistent session (clean start off, a session expiry): while the ingest
  or the broker is down, the broker keeps the readings for it.
- Scaling out, two ways:
  - sharded (the default): every ingest holds a plain subscription to
    `provenant/+/devices/+/readings` and keeps the devices whose hash falls in its shard
    (`shard=(i, n)`), acknowledging the others unread. One device's readings always reach
    the same ingest, in order, and the subscription is part of the persistent session, so
    readings published while the broker restarts wait for the ingest.
  - shared (`shared=True`): the subscription `$share/ingest/provenant/+/devices/+/readings`,
    the broker spreading the readings over the group. Mosquitto 2.0 does not keep shared
    subscriptions across its own restart (readings published after a restart and before
    the ingest subscribes again are dropped), and two ingests may receive one device's
    consecutive readings, so the later can commit first and the earlier is refused as out
    of order. Use it where neither matters.
- Messages are acknowledged by hand, after the batch they came in is committed: a crash
  before the commit gets them again (the sequence number check drops any repeat).
- A batch closes at `batch_size` messages or `batch_wait` seconds after its first one.
- `stop` (an Event; the command sets it on SIGTERM) ends the loop after the current batch;
  every wait has a deadline.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import zlib
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from webapp.monitoring.broker import INGEST_TOPIC
from webapp.monitoring.ingest import Incoming, readings_ingest_isolated

log = logging.getLogger(__name__)

SHARED_GROUP = "ingest"
SESSION_EXPIRY_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    mid: int
    qos: int


def topic_sender(topic: str) -> tuple[str, str] | None:
    """(organisation slug, device id) a readings topic names, None for another topic."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "provenant" or parts[2] != "devices":
        return None
    if parts[4] != "readings" or not parts[1] or not parts[3]:
        return None
    return parts[1], parts[3]


class ReadingSubscriber:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        client_id: str = "provenant-ingest",
        batch_size: int = 2000,
        batch_wait: float = 0.05,
        shard: tuple[int, int] = (0, 1),
        shared: bool = False,
    ) -> None:
        if not 0 <= shard[0] < shard[1]:
            raise ValueError(f"shard {shard[0]} of {shard[1]} does not exist")
        self.batch_size, self.batch_wait = batch_size, batch_wait
        self.shard, self.shared = shard, shared
        self.inbox: queue.Queue[Received] = queue.Queue()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.accepted = 0
        self.rejected = 0
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.username_pw_set(username, password)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client = client
        self.host, self.port = host, port

    def _on_connect(self, client: mqtt.Client, userdata: object, flags, reason, props) -> None:  # type: ignore[no-untyped-def]
        if reason.is_failure:
            log.warning("MQTT connection refused: %s", reason)
            return
        self.connected.set()
        topic = f"$share/{SHARED_GROUP}/{INGEST_TOPIC}" if self.shared else INGEST_TOPIC
        client.subscribe(topic, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid, reasons, props) -> None:  # type: ignore[no-untyped-def]
        if all(not r.is_failure for r in reasons):
            self.subscribed.set()
        else:
            log.error("MQTT subscription refused: %s", reasons)

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags, reason, props) -> None:  # type: ignore[no-untyped-def]
        self.connected.clear()
        self.subscribed.clear()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put(Received(msg.topic, bytes(msg.payload), msg.mid, msg.qos))

    def start(self, *, timeout: float = 10.0) -> None:
        """Connect (a persistent session) and subscribe; raise if not done by `timeout`."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        properties.ReceiveMaximum = 65535
        self.client.connect_async(
            self.host, self.port, keepalive=30, clean_start=False, properties=properties
        )
        self.client.loop_start()
        if not self.subscribed.wait(timeout):
            self.client.loop_stop()
            raise TimeoutError(f"no MQTT subscription at {self.host}:{self.port} in {timeout}s")

    def batch(self, *, wait: float) -> list[Received]:
        """The next batch: waits up to `wait` s for a first message, then up to
        `batch_wait` s more for the rest."""
        try:
            first = self.inbox.get(timeout=wait)
        except queue.Empty:
            return []
        found = [first]
        deadline = time.monotonic() + self.batch_wait
        while len(found) < self.batch_size:
            left = deadline - time.monotonic()
            try:
                found.append(self.inbox.get(timeout=left) if left > 0 else self.inbox.get_nowait())
            except queue.Empty:
                break
        return found

    def mine(self, sender: tuple[str, str]) -> bool:
        """Whether this ingest's shard holds the device (always, with a shared subscription)."""
        index, count = self.shard
        if self.shared or count == 1:
            return True
        return zlib.crc32(f"{sender[0]}/{sender[1]}".encode()) % count == index

    def handle(self, messages: list[Received]) -> None:
        incoming = []
        for message in messages:
            sender = topic_sender(message.topic)
            if sender is not None and self.mine(sender):
                incoming.append(Incoming(message.payload, sender[0], topic_device=sender[1]))
        outcomes = readings_ingest_isolated(incoming)
        accepted = sum(1 for o in outcomes if o.accepted)
        self.accepted += accepted
        self.rejected += len(outcomes) - accepted
        for message in messages:  # committed: the broker may forget them
            if message.qos:
                self.client.ack(message.mid, message.qos)

    def run(self, stop: threading.Event, *, idle_wait: float = 0.5) -> None:
        """Ingest until `stop` is set."""
        try:
            while not stop.is_set():
                messages = self.batch(wait=idle_wait)
                if messages:
                    self.handle(messages)
        finally:
            self.close()

    def close(self, *, timeout: float = 5.0) -> None:
        self.client.disconnect()
        deadline = time.monotonic() + timeout
        while self.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.client.loop_stop()
