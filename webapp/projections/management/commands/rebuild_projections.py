from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from webapp.chain.indexer import leader_lock
from webapp.chain.models import Checkpoint
from webapp.projections.projector import Projector


class Command(BaseCommand):
    help = "Drop the projections and replay them from the event store alone."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain-id", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        chains = (
            [options["chain_id"]]
            if options["chain_id"] is not None
            else list(Checkpoint.objects.values_list("chain_id", flat=True))
        )
        for chain_id in chains:
            with leader_lock(chain_id):  # no indexer may apply batches meanwhile
                applied = Projector(chain_id).rebuild()
            self.stdout.write(f"chain {chain_id}: replayed {applied} events")
