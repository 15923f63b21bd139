from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from webapp.chain.chain_client import chain
from webapp.chain.indexer import ChainIndexer, leader_lock
from webapp.chain.pipeline import chain_sync


class Command(BaseCommand):
    help = (
        "Mirror the chain's events into the event store and run its consumers"
        " (once to the head, or --follow)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--follow", action="store_true", help="keep following the head")
        parser.add_argument("--interval", type=float, default=1.0)

    def handle(self, *args: Any, **options: Any) -> None:
        w3, manifest = chain()
        indexer = ChainIndexer(w3, manifest)
        with leader_lock(manifest.chain_id):
            result = chain_sync(indexer=indexer)
            self.stdout.write(f"indexed {result.stored} events")
            while options["follow"]:
                time.sleep(options["interval"])
                chain_sync(indexer=indexer)
