from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.chain.chain_client import chain
from webapp.chain.verification import verify_mirror


class Command(BaseCommand):
    help = "Re-read the chain and report missing, extra or altered rows of the event store."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from-block", type=int, default=None)
        parser.add_argument("--to-block", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        w3, manifest = chain()
        report = verify_mirror(
            w3, manifest, from_block=options["from_block"], to_block=options["to_block"]
        )
        self.stdout.write(
            f"blocks {report.from_block}..{report.to_block}: {report.checked} events checked"
        )
        for label, items in (
            ("missing", report.missing),
            ("extra", report.extra),
            ("altered", report.altered),
            ("integrity", report.broken_chain),
        ):
            for item in items:
                self.stdout.write(f"{label}: {item}")
        if not report.clean:
            raise CommandError(
                f"mirror differs from the chain: {len(report.missing)} missing, "
                f"{len(report.extra)} extra, {len(report.altered)} altered, "
                f"{len(report.broken_chain)} running-hash breaks"
            )
        self.stdout.write("mirror matches the chain")
