"""Catch the warehouse up with the event store, or rebuild it, with a progress bar."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from webapp.chain.backfill import consumer_backfill
from webapp.chain.models import ConsumerCursor
from webapp.exports.warehouse.consumer import NAME, WarehouseRefresh
from webapp.exports.warehouse.models import DimLot, WarehouseProgress
from webapp.exports.warehouse.refresh import footprints
from webapp.exports.warehouse.schema import TABLES


class Command(BaseCommand):
    help = (
        "Refresh the reporting warehouse from the event store (resumable: it follows its "
        "cursor); --rebuild empties it first, --footprints recomputes every lot's figures."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain-id", type=int, default=None)
        parser.add_argument("--batch", type=int, default=5000, help="events per transaction")
        parser.add_argument(
            "--rebuild", action="store_true", help="empty the warehouse and start over"
        )
        parser.add_argument(
            "--footprints",
            action="store_true",
            help="recompute every lot's figures as of the mirror's head",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("the warehouse needs PostgreSQL (set DATABASE_URL)")
        chain_id = options["chain_id"] or settings.CHAIN_ID
        batch = options["batch"]
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        if options["rebuild"]:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("TRUNCATE " + ", ".join(f"reporting.{t}" for t in TABLES))
                ConsumerCursor.objects.filter(chain_id=chain_id, name=NAME).update(event_id=0)
        row, _ = WarehouseProgress.objects.update_or_create(
            name=NAME, defaults={"started_at": timezone.now(), "finished": False}
        )

        def progress(done: int, total: int) -> None:
            row.done, row.total = done, total
            row.save(update_fields=["done", "total", "updated_at"])

        done, total = consumer_backfill(
            consumer=WarehouseRefresh(), chain_id=chain_id, batch=batch,
            label="warehouse refresh", progress=progress,
        )  # fmt: skip
        row.finished = True
        row.save(update_fields=["finished", "updated_at"])
        self.stdout.write(f"warehouse refresh: {done}/{total} events")
        if options["footprints"]:
            lots = {
                int(i)
                for i in DimLot.objects.filter(chain_id=chain_id).values_list("lot_id", flat=True)
            }
            with transaction.atomic():
                written = footprints(chain_id, lots, None)
            self.stdout.write(f"footprints: {written} lots")
