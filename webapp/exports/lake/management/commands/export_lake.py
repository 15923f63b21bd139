from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from webapp.chain.backfill import consumer_backfill
from webapp.exports.lake.consumer import NAME, LakeExport
from webapp.exports.lake.models import LakeExportProgress
from webapp.exports.lake.snapshots import snapshot_personal_values, snapshot_projections
from webapp.exports.lake.storage import lake_open


class Command(BaseCommand):
    help = "Backfill the Parquet lake from the event store (resumable: it follows its cursor)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain-id", type=int, default=None)
        parser.add_argument("--batch", type=int, default=5000, help="events per file flush")
        parser.add_argument(
            "--snapshots", action="store_true", help="also write today's daily snapshots"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.LAKE_URL:
            raise CommandError("no lake: set PROVENANT_LAKE_URL")
        chain_id = options["chain_id"] or settings.CHAIN_ID
        batch = options["batch"]
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        row, _ = LakeExportProgress.objects.update_or_create(
            name=NAME, defaults={"started_at": timezone.now(), "finished": False}
        )

        def progress(done: int, total: int) -> None:
            row.done, row.total = done, total
            row.save(update_fields=["done", "total", "updated_at"])

        done, total = consumer_backfill(
            consumer=LakeExport(), chain_id=chain_id, batch=batch, label="lake export",
            progress=progress,
        )  # fmt: skip
        row.finished = True
        row.save(update_fields=["finished", "updated_at"])
        self.stdout.write(f"lake export: {done}/{total} events")
        if options["snapshots"]:
            lake, day = lake_open(settings.LAKE_URL), timezone.now().date()
            rows = snapshot_personal_values(lake, day=day)
            tables = snapshot_projections(lake, day=day, chain_id=chain_id)
            written = ", ".join(f"{n} {r}" for n, r in tables.items()) or "none new"
            self.stdout.write(f"snapshots: {rows} sealed personal values; projections: {written}")
