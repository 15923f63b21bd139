from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.exports.lake.storage import lake_open
from webapp.exports.lake.verify import lake_verify


class Command(BaseCommand):
    help = "Check the Parquet lake's files against their manifests and the event store."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="", help="lake root (default: settings.LAKE_URL)")

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["url"] or settings.LAKE_URL
        if not url:
            raise CommandError("no lake: set PROVENANT_LAKE_URL or pass --url")
        problems = lake_verify(lake_open(url))
        if problems:
            raise CommandError(
                f"the lake does not match ({len(problems)}):\n" + "\n".join(problems)
            )
        self.stdout.write("lake verified")
