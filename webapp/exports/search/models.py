"""The search index: one row per thing a person can find (lot, certificate, organisation,
chain event, document's metadata), rebuilt from the projections, the event store and the
documents, never the source of truth.

Rows hold only what the portal shows in clear: sealed personal fields are never copied in,
so forgetting a data subject leaves nothing of theirs to find.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchVectorField
from django.db import models

from webapp.fields import Uint256Field

KINDS = ("lot", "certificate", "organisation", "event", "document")


class SearchEntry(models.Model):
    chain_id = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=16)
    key = models.CharField(max_length=100)  # the thing's id within its kind
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    #: Ids and GS1 keys, lower-cased, matched by substring (a trigram index on PostgreSQL).
    keys = models.TextField(blank=True)
    organisation = models.CharField(max_length=50, blank=True)  # slug, for the facet
    status = models.CharField(max_length=16, blank=True)
    occurred_at = models.DateTimeField(null=True)
    #: Visibility: the lot it is about (visible with the lot) or the address that issued it.
    lot_id = Uint256Field(null=True)
    issuer = models.CharField(max_length=42, blank=True)
    block = models.PositiveBigIntegerField(null=True)  # for rollback of chain events
    #: Filled on PostgreSQL only (GIN index added by the migration there).
    vector = SearchVectorField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "kind", "key"], name="search_entry_unique")
        ]
        indexes = [models.Index(fields=["chain_id", "kind", "block"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: {self.title}"


class ReindexCursor(models.Model):
    """How far `reindex_search` got, per kind, so a killed run resumes (and the admin
    shows a running rebuild's progress)."""

    kind = models.CharField(max_length=16, unique=True)
    last = models.CharField(max_length=100, blank=True)
    done = models.BooleanField(default=False)
    indexed = models.BigIntegerField(default=0)  # rows of the kind walked so far
    total = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.kind} after {self.last or 'the start'}"
