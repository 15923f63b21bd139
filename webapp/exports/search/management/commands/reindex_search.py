"""Rebuild the search index from the projections and the event store, with a progress bar.

Each kind is walked in id order in batches; the cursor (`ReindexCursor`) moves in the same
transaction as the batch's entries, so a killed run resumes where it stopped. `--restart`
forgets the cursors and starts over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from webapp.chain.models import ChainEvent
from webapp.documents.models import Document
from webapp.exports.search import index
from webapp.exports.search.models import KINDS, ReindexCursor
from webapp.lots.selectors.scope import current_lots
from webapp.organisations.models import Organisation
from webapp.projections.models import CertificateVersion

BATCH = 1000


def _sources(chain_id: int) -> dict[str, tuple[Any, str, Callable[[list[Any]], int]]]:
    """Per kind: the rows to walk, the column they are ordered and resumed by, and how a
    batch of them is indexed."""
    return {
        "organisation": (
            Organisation.objects.exclude(address=""),
            "slug",
            lambda rows: index.index_organisations(rows, chain_id=chain_id),
        ),
        "document": (
            Document.objects.select_related("uploaded_by"),
            "id",
            lambda rows: index.index_documents(rows, chain_id=chain_id),
        ),
        "lot": (
            current_lots(chain_id),
            "lot_id",
            lambda rows: index.index_lots([r.lot_id for r in rows], chain_id=chain_id),
        ),
        "certificate": (
            CertificateVersion.objects.filter(chain_id=chain_id, block_to__isnull=True),
            "certificate_id",
            lambda rows: index.index_certificates(
                [r.certificate_id for r in rows], chain_id=chain_id
            ),
        ),
        "event": (ChainEvent.objects.filter(chain_id=chain_id), "id", index.index_events),
    }


class Command(BaseCommand):
    help = "Rebuild the search index (resumable; --restart to start over)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", choices=KINDS, action="append", help="only these kinds")
        parser.add_argument(
            "--restart", action="store_true", help="forget where the last run stopped"
        )
        parser.add_argument("--batch", type=int, default=BATCH)

    def handle(self, *args: Any, **options: Any) -> None:
        kinds = options["kind"] or list(KINDS)
        batch = max(1, options["batch"])
        if options["restart"]:
            ReindexCursor.objects.filter(kind__in=kinds).delete()
        sources = _sources(settings.CHAIN_ID)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        total = 0
        with Progress(*columns, disable=options["verbosity"] < 1) as progress:
            for kind in kinds:
                rows, column, write = sources[kind]
                cursor, _ = ReindexCursor.objects.get_or_create(kind=kind)
                if cursor.done:
                    continue
                rows = rows.order_by(column)
                remaining = rows.filter(**{f"{column}__gt": cursor.last}) if cursor.last else rows
                cursor.total = rows.count()
                cursor.indexed = cursor.total - remaining.count()
                cursor.save(update_fields=["total", "indexed", "updated_at"])
                task = progress.add_task(f"{kind}s", total=cursor.total)
                progress.update(task, completed=cursor.indexed)
                while True:
                    chunk = list(remaining[:batch])
                    if not chunk:
                        break
                    with transaction.atomic():
                        total += write(chunk)
                        cursor.last = str(getattr(chunk[-1], column))
                        cursor.indexed += len(chunk)
                        cursor.save(update_fields=["last", "indexed", "updated_at"])
                    progress.advance(task, len(chunk))
                    remaining = rows.filter(**{f"{column}__gt": getattr(chunk[-1], column)})
                cursor.done = True
                cursor.save(update_fields=["done"])
        # A finished run leaves no cursor, so the next run rebuilds everything.
        ReindexCursor.objects.filter(kind__in=kinds, done=True).delete()
        if options["verbosity"] >= 1:
            self.stdout.write(f"Indexed {total} entries.")
