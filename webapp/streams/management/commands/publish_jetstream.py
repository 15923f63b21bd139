"""``manage.py publish_jetstream``: publish the event store to NATS JetStream.

Runs until SIGTERM/SIGINT (or, with ``--once``, until every stored fact is published).
One publisher per stream: a second one exits at once. While NATS is down it waits and
tries again with backoff; its cursor never moves past a message the stream did not ack.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.db_locks import LockBusy, advisory_lock
from webapp.streams.jetstream import BATCH, JetStreamPublisher
from webapp.streams.jetstream_link import JetStreamConfig, JetStreamLink, NatsUnavailable


class Command(BaseCommand):
    help = "Publish every mirrored fact to NATS JetStream (runs until stopped, or --once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--chain-id",
            type=int,
            action="append",
            dest="chain_ids",
            help="publish this chain only (repeatable; default: every indexed chain)",
        )
        parser.add_argument("--batch", type=int, default=BATCH)
        parser.add_argument(
            "--once", action="store_true", help="publish what is stored now, then exit"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config = JetStreamConfig.from_settings()
        link = JetStreamLink(config)
        publisher = JetStreamPublisher(link=link, batch=options["batch"])
        try:
            with advisory_lock(f"provenant-jetstream-{config.stream}"):
                if options["once"]:
                    try:
                        link.ensure_stream()
                        count = publisher.publish_pending(chain_ids=options["chain_ids"])
                    except NatsUnavailable as exc:
                        raise CommandError(f"JetStream at {config.url}: {exc}") from exc
                    self.stdout.write(f"published {count} facts to {config.stream}")
                    return
                stop = threading.Event()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(signum, lambda *_: stop.set())
                self.stdout.write(f"publishing to {config.stream} at {config.url}")
                publisher.run(stop=stop, chain_ids=options["chain_ids"])
        except LockBusy as exc:
            raise CommandError(
                f"another publish_jetstream is running for stream {config.stream}"
            ) from exc
        finally:
            link.close()
