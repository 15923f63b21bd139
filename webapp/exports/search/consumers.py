"""The search index as a consumer of the event store.

Flow: for each batch (after the projections have applied it), every chain event becomes an
event entry, and the lots and certificates it names are re-read from the projections and
their entries rewritten. A reorganisation deletes the event entries above the kept block
and re-reads the lots and certificates they named, from the projections already rolled
back (the search runs after them). Organisation names are not chain facts: the
organisation services' changes reach the index through `reindex_search --kind
organisation` (or `index_organisations`).
"""

from __future__ import annotations

from collections.abc import Sequence

from webapp.chain.models import ChainEvent
from webapp.exports.search import index
from webapp.exports.search.models import SearchEntry
from webapp.projections.models import CertificateVersion


class SearchIndexConsumer:
    name = "search"
    kinds: frozenset[str] | None = None
    after: tuple[str, ...] = ("projections",)

    def apply(self, events: Sequence[ChainEvent], *, chain_id: int) -> None:
        index.index_events(events)
        index.index_lots(index.lots_touched(events), chain_id=chain_id)
        index.index_certificates(index.certificates_touched(events), chain_id=chain_id)

    def rollback(self, to_block: int, *, chain_id: int) -> None:
        removed = SearchEntry.objects.filter(chain_id=chain_id, kind="event", block__gt=to_block)
        lots = {int(str(i)) for i in removed.exclude(lot_id=None).values_list("lot_id", flat=True)}
        removed.delete()
        # Things registered above the kept block no longer exist; the rest are rewritten.
        SearchEntry.objects.filter(chain_id=chain_id, kind="lot", lot_id__in=lots).delete()
        SearchEntry.objects.filter(chain_id=chain_id, kind="certificate", lot_id__in=lots).delete()
        index.index_lots(lots, chain_id=chain_id)
        certificates = CertificateVersion.objects.filter(
            chain_id=chain_id, block_to__isnull=True, subject__in=lots
        ).values_list("certificate_id", flat=True)
        index.index_certificates([int(c) for c in certificates], chain_id=chain_id)
