"""Off-chain changes the index follows: organisation names, lot metadata documents and
uploaded documents are saved in the database, not on chain, so their saves rewrite the
entries (the chain's own facts reach the index through `SearchIndexConsumer`)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from webapp.documents.models import Document
from webapp.exports.search import index
from webapp.exports.search.models import SearchEntry
from webapp.lots.models import LotMetadata
from webapp.organisations.models import Organisation


def _organisation_saved(sender: Any, instance: Organisation, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    index.index_organisations([instance])


def _metadata_saved(sender: Any, instance: LotMetadata, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    # Before its registration is mirrored the lot has no current version: nothing is
    # written now, and the consumer indexes it when the event arrives.
    index.index_lots([int(instance.lot_id)], chain_id=instance.chain_id)


def _document_saved(sender: Any, instance: Document, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    index.index_documents([instance])


def _document_deleted(sender: Any, instance: Document, **kwargs: Any) -> None:
    SearchEntry.objects.filter(kind="document", key=str(instance.pk)).delete()


def connect() -> None:
    post_save.connect(_organisation_saved, sender=Organisation, dispatch_uid="search-org")
    post_save.connect(_metadata_saved, sender=LotMetadata, dispatch_uid="search-metadata")
    post_save.connect(_document_saved, sender=Document, dispatch_uid="search-document")
    post_delete.connect(_document_deleted, sender=Document, dispatch_uid="search-document")
