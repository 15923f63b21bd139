"""`manage.py ingest_readings`: the long-running MQTT ingest of device readings (see
`webapp.monitoring.mqtt`). Run several for more throughput: they share the subscription.
SIGTERM or SIGINT stops it after the batch in hand."""

from __future__ import annotations

import os
import signal
import socket
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.monitoring.mqtt import ReadingSubscriber


class Command(BaseCommand):
    help = "Take signed device readings off the MQTT broker, check them and store them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=getattr(settings, "MQTT_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=getattr(settings, "MQTT_PORT", 1884))
        parser.add_argument(
            "--username", default=getattr(settings, "MQTT_INGEST_USERNAME", "provenant-ingest")
        )
        parser.add_argument(
            "--client-id",
            default="",
            help="keep it the same across restarts: the broker keeps the session under it "
            "(default: provenant-ingest-<shard>-of-<shards>)",
        )
        parser.add_argument(
            "--shard",
            default="0/1",
            help="i/n: this ingest keeps the devices of shard i of n (run one per shard)",
        )
        parser.add_argument(
            "--shared",
            action="store_true",
            help="use the shared subscription $share/ingest/... instead of shards",
        )
        parser.add_argument("--batch-size", type=int, default=2000)
        parser.add_argument("--batch-wait-ms", type=int, default=50)
        parser.add_argument("--connect-timeout", type=float, default=10.0)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            index, count = (int(part) for part in options["shard"].split("/"))
        except ValueError:
            raise CommandError("--shard is i/n, e.g. 0/2") from None
        client_id = options["client_id"] or (
            f"provenant-ingest-{socket.gethostname()}"  # one per host; more: give --client-id
            if options["shared"]
            else f"provenant-ingest-{index}-of-{count}"
        )
        password = str(
            os.environ.get("PROVENANT_MQTT_INGEST_PASSWORD")
            or getattr(settings, "MQTT_INGEST_PASSWORD", "")
        )
        subscriber = ReadingSubscriber(
            host=options["host"],
            port=options["port"],
            username=options["username"],
            password=password,
            client_id=client_id,
            shard=(index, count),
            shared=options["shared"],
            batch_size=options["batch_size"],
            batch_wait=options["batch_wait_ms"] / 1000,
        )
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        subscriber.start(timeout=options["connect_timeout"])
        self.stdout.write(f"ingesting readings from {options['host']}:{options['port']}")
        subscriber.run(stop)
        self.stdout.write(f"stopped: {subscriber.accepted} accepted, {subscriber.rejected} refused")
