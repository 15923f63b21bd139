"""Writing the search index: entries built from the projections and the event store.

Each builder reads the current state of a set of things and upserts one entry per thing,
so rebuilding an entry is always safe (a replay or a reindex just overwrites it). Sealed
personal fields (the metadata document's ``personal`` commitments) are never indexed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection

from contracts.chain.domain import SubjectKind
from webapp.bulk import server_bound
from webapp.chain.models import ChainEvent
from webapp.documents.models import Document
from webapp.exports.search.models import SearchEntry
from webapp.formatting.labels import certificate_type_label
from webapp.lots.models import LotMetadata
from webapp.lots.selectors import KIND_NAMES
from webapp.lots.selectors.scope import current_lots
from webapp.organisations.models import Organisation, OrganisationKey
from webapp.projections.models import CertificateVersion

FIELDS = ["title", "body", "keys", "organisation", "status", "occurred_at", "lot_id", "issuer"]
#: Keys of a metadata document that are never indexed (sealed personal data).
SEALED = frozenset({"personal", "data_subject"})


def slugs_by_address() -> dict[str, str]:
    """Every organisation address (current and rotated keys) -> the organisation's slug."""
    found = {o.address: o.slug for o in Organisation.objects.exclude(address="")}
    for address, slug in OrganisationKey.objects.values_list("address", "organisation__slug"):
        found.setdefault(address, slug)
    return found


def _words(value: Any) -> str:
    """The text in a JSON value, flattened (the sealed keys left out)."""
    if isinstance(value, dict):
        return " ".join(_words(v) for k, v in value.items() if k not in SEALED)
    if isinstance(value, list):
        return " ".join(_words(v) for v in value)
    return "" if value is None else str(value)


#: (column, PostgreSQL array type) of an entry, in the order `_save` sends them.
_COLUMNS = [
    ("chain_id", "bigint"),
    ("kind", "text"),
    ("key", "text"),
    ("title", "text"),
    ("body", "text"),
    ("keys", "text"),
    ("organisation", "text"),
    ("status", "text"),
    ("occurred_at", "timestamptz"),
    ("lot_id", "numeric"),
    ("issuer", "text"),
    ("block", "bigint"),
]
#: Names and keys weigh more than descriptions; 'simple' so ids and names are not stemmed.
_VECTOR = (
    "setweight(to_tsvector('simple', v.title), 'A') || "
    "setweight(to_tsvector('simple', v.keys), 'A') || "
    "setweight(to_tsvector('simple', v.body), 'B')"
)


def _save(entries: list[SearchEntry]) -> int:
    """Insert or replace the entries (by chain, kind and key). On PostgreSQL one statement
    from column arrays computes each vector as it writes the row: a row is written once,
    and its GIN entries with it."""
    if not entries:
        return 0
    if connection.vendor != "postgresql":
        SearchEntry.objects.bulk_create(
            entries,
            update_conflicts=True,
            unique_fields=["chain_id", "kind", "key"],
            update_fields=[*FIELDS, "block"],
        )
        return len(entries)
    names = [name for name, _ in _COLUMNS]
    updated = [*FIELDS, "block", "vector"]
    server_bound(
        f"INSERT INTO {SearchEntry._meta.db_table} ({', '.join(names)}, vector) "
        f"SELECT {', '.join('v.' + n for n in names)}, {_VECTOR} "
        f"FROM unnest({', '.join(f'%b::{kind}[]' for _, kind in _COLUMNS)}) "
        f"AS v({', '.join(names)}) "
        "ON CONFLICT (chain_id, kind, key) DO UPDATE SET "
        + ", ".join(f"{name} = EXCLUDED.{name}" for name in updated),
        [[getattr(e, name) for e in entries] for name in names],
    )
    return len(entries)


def index_lots(lot_ids: Iterable[int], *, chain_id: int | None = None) -> int:
    chain_id = chain_id or settings.CHAIN_ID
    ids = sorted({int(i) for i in lot_ids})
    slugs = slugs_by_address()
    documents = {
        int(m.lot_id): m for m in LotMetadata.objects.filter(chain_id=chain_id, lot_id__in=ids)
    }
    entries = []
    for lot in current_lots(chain_id).filter(lot_id__in=ids):
        meta = documents.get(int(lot.lot_id))
        document = meta.document if meta else {}
        entries.append(
            SearchEntry(
                chain_id=chain_id,
                kind="lot",
                key=str(lot.lot_id),
                title=str(document.get("name", ""))[:300] or f"Lot {lot.lot_id}",
                body=f"{KIND_NAMES.get(lot.kind, '')} {_words(document)}",
                keys=f"{lot.lot_id} {meta.gs1_key if meta else ''} "
                f"{document.get('batch', '')}".lower(),
                organisation=slugs.get(lot.creator, ""),
                status="quarantined" if lot.quarantined else "active",
                occurred_at=meta.created_at if meta else None,
                lot_id=lot.lot_id,
                issuer=lot.creator,
            )
        )
    return _save(entries)


def index_certificates(certificate_ids: Iterable[int], *, chain_id: int | None = None) -> int:
    chain_id = chain_id or settings.CHAIN_ID
    slugs = slugs_by_address()
    rows = CertificateVersion.objects.filter(
        chain_id=chain_id, block_to__isnull=True, certificate_id__in=sorted(set(certificate_ids))
    )
    entries = [
        SearchEntry(
            chain_id=chain_id,
            kind="certificate",
            key=str(c.certificate_id),
            title=certificate_type_label(c.certificate_type)[:300],
            body=f"{_words(c.claims)} {c.revoke_reason}",
            keys=f"{c.certificate_id} {c.document_hash}".lower(),
            organisation=slugs.get(c.issuer, ""),
            status="revoked" if c.revoked else "valid",
            occurred_at=c.valid_from,
            lot_id=c.subject if c.subject_kind == SubjectKind.LOT else None,
            issuer=c.issuer,
        )
        for c in rows
    ]
    return _save(entries)


def index_organisations(
    organisations: Iterable[Organisation], *, chain_id: int | None = None
) -> int:
    """Organisations are public in the consortium; an organisation without an address
    (not yet on chain) is not listed, as in the portal."""
    chain_id = chain_id or settings.CHAIN_ID
    entries = [
        SearchEntry(
            chain_id=chain_id,
            kind="organisation",
            key=o.slug,
            title=o.name[:300],
            keys=f"{o.slug} {o.address}".lower(),
            organisation=o.slug,
            status="active",
        )
        for o in organisations
        if o.address
    ]
    return _save(entries)


def index_documents(documents: Iterable[Document], *, chain_id: int | None = None) -> int:
    """Documents' metadata (name, type, size, SHA-256 — never their content), found by the
    organisation that uploaded them (and the consortium-wide readers)."""
    chain_id = chain_id or settings.CHAIN_ID
    entries = [
        SearchEntry(
            chain_id=chain_id,
            kind="document",
            key=str(d.pk),
            title=d.name[:300],
            body=f"{d.content_type} document, {d.size} bytes",
            keys=f"{d.sha256} 0x{d.sha256} {d.name}".lower(),
            organisation=d.uploaded_by.slug,
            occurred_at=d.uploaded_at,
            issuer=d.uploaded_by.address,
        )
        for d in documents
    ]
    return _save(entries)


def index_events(events: Sequence[ChainEvent]) -> int:
    """The event history: each event is found by its name, contract, transaction and args.
    An event about a lot is visible with the lot; any other only to the consortium-wide."""
    if not events:
        return 0
    slugs = slugs_by_address()
    entries = []
    for event in events:
        args = event.args if isinstance(event.args, dict) else {}
        lot_id = args.get("lotId")
        entries.append(
            SearchEntry(
                chain_id=event.chain_id,
                kind="event",
                key=f"{event.block_number}:{event.log_index}",
                title=event.event,
                body=f"{event.contract} {_words(args)}",
                keys=f"{event.transaction_hash} {_words(args)}".lower()[:2000],
                organisation=slugs.get(event.address, ""),
                status="",
                occurred_at=event.block_timestamp,
                lot_id=int(str(lot_id)) if str(lot_id).isdigit() else None,
                block=event.block_number,
            )
        )
    return _save(entries)


def lots_touched(events: Sequence[ChainEvent]) -> set[int]:
    found = set()
    for event in events:
        args = event.args if isinstance(event.args, dict) else {}
        for name in ("lotId", "inputLotId", "outputLotId", "subject"):
            value = args.get(name)
            if str(value).isdigit():
                found.add(int(str(value)))
    return found


def certificates_touched(events: Sequence[ChainEvent]) -> set[int]:
    return {
        int(e.args["certificateId"])
        for e in events
        if isinstance(e.args, dict) and str(e.args.get("certificateId", "")).isdigit()
    }
