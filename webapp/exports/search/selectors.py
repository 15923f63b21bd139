"""Reading the search index: what a caller may find for a text, with facet counts.

Visibility follows the portal's stock scope (`webapp.lots.selectors.scope.StockScope`): a lot,
its certificates and its events are found by whoever may see the lot; a certificate also
by its issuer; organisations (public in the consortium) by everyone; an event about no
lot only by the consortium-wide (auditors, the operator).

On PostgreSQL the text matches the full-text vector (GIN) or, as a substring, the ids and
GS1 keys (trigram GIN); on the embedded SQLite database it matches by plain substring,
which is fine for a demo's few hundred rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.urls import reverse

from webapp.db_router import lag_tolerant
from webapp.exports.search.models import KINDS, SearchEntry
from webapp.lots.selectors.scope import StockScope

MAX_QUERY_LENGTH = 200
MAX_PAGE_SIZE = 100
STATUSES = ("active", "quarantined", "valid", "revoked")
#: The facets a request may filter by and get counts for.
FACETS = ("type", "organisation", "status")


class SearchInputError(ValueError):
    """A search request that cannot be answered; the message says why."""


@dataclass(frozen=True)
class SearchRequest:
    q: str
    type: str = ""
    organisation: str = ""
    status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    page_size: int = 25


def _date(name: str, value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SearchInputError(
            f"{name} should be a date as YYYY-MM-DD, not {value[:40]!r}."
        ) from None


def _positive(name: str, value: str, default: int, most: int) -> int:
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= most:
        raise SearchInputError(f"{name} should be a whole number from 1 to {most}.")
    return int(value)


ALLOWED = {"q", *FACETS, "from", "to", "page", "page_size", "format"}


def search_request(params: dict[str, str]) -> SearchRequest:
    """A search request from query parameters; `SearchInputError` says what is wrong."""
    unknown = sorted(set(params) - ALLOWED)
    if unknown:
        raise SearchInputError(
            f"Unknown parameter {unknown[0]!r}; the facets are {', '.join(FACETS)}, from and to."
        )
    q = params.get("q", "").strip()
    if not q:
        raise SearchInputError("q is required: the text to search for.")
    if len(q) > MAX_QUERY_LENGTH:
        raise SearchInputError(f"q is longer than {MAX_QUERY_LENGTH} characters.")
    if "\x00" in q or not q.isprintable():
        raise SearchInputError("q holds control characters.")
    kind = params.get("type", "")
    if kind and kind not in KINDS:
        raise SearchInputError(f"type should be one of {', '.join(KINDS)}.")
    status = params.get("status", "")
    if status and status not in STATUSES:
        raise SearchInputError(f"status should be one of {', '.join(STATUSES)}.")
    organisation = params.get("organisation", "")
    if len(organisation) > 50:
        raise SearchInputError("organisation should be an organisation's slug.")
    date_from, date_to = _date("from", params.get("from", "")), _date("to", params.get("to", ""))
    if date_from and date_to and date_from > date_to:
        raise SearchInputError("from is after to.")
    return SearchRequest(
        q=q,
        type=kind,
        organisation=organisation,
        status=status,
        date_from=date_from,
        date_to=date_to,
        page=_positive("page", params.get("page", ""), 1, 10_000),
        page_size=_positive("page_size", params.get("page_size", ""), 25, MAX_PAGE_SIZE),
    )


@dataclass
class Hit:
    kind: str
    key: str
    title: str
    organisation: str
    status: str
    occurred_at: Any
    link: str
    lot_id: int | None = None


@dataclass
class SearchPage:
    request: SearchRequest
    total: int
    #: More than `MATCH_CAP` matched: `total` and the facet counts are lower bounds.
    more: bool = False
    hits: list[Hit] = field(default_factory=list)
    facets: dict[str, dict[str, int]] = field(default_factory=dict)


def visible_entries(*, scope: StockScope) -> QuerySet[SearchEntry]:
    entries = SearchEntry.objects.filter(chain_id=settings.CHAIN_ID)
    if scope.everything:
        return entries
    # The scope's conditions straight on the entries' lot ids: each is a set of the
    # organisation's lots (created, held, handed, carried), never a scan of every lot.
    listed = scope.listed_condition()
    # A certifier lists every lot, but a lot's history only where it is a party.
    in_view = scope.lots_condition()
    about_lots = (
        (Q(kind__in=["lot", "certificate"], lot_id__isnull=False) & listed)
        | (Q(kind="event", lot_id__isnull=False) & in_view)
        if scope.lists_beyond_view
        # one set of the organisation's lots, not the same set built twice
        else Q(kind__in=["lot", "certificate", "event"], lot_id__isnull=False) & in_view
    )
    return entries.filter(
        Q(kind="organisation")
        | about_lots
        | Q(kind__in=["certificate", "document"], issuer__in=sorted(scope.addresses))
    )


def _matching(entries: QuerySet[SearchEntry], text: str) -> QuerySet[SearchEntry]:
    lowered = text.lower()
    if connection.vendor != "postgresql":
        return entries.filter(
            Q(title__icontains=text) | Q(body__icontains=text) | Q(keys__contains=lowered)
        )
    query = SearchQuery(text, search_type="websearch", config="simple")
    return entries.filter(Q(vector=query) | Q(keys__contains=lowered)).annotate(
        rank=SearchRank(F("vector"), query)
    )


def _link(entry: SearchEntry) -> str:
    if entry.kind == "lot" or (entry.kind == "event" and entry.lot_id is not None):
        return reverse("portal:lot", args=[int(entry.lot_id or 0)])
    if entry.kind == "certificate":
        return reverse("portal:revocation-impact", args=[int(entry.key)])
    if entry.kind == "document":
        sha256 = entry.keys.split()[0] if entry.keys else ""
        return reverse("portal:document", args=[sha256])
    if entry.kind == "organisation":
        return f"{reverse('portal:lots')}?holder={entry.key}"
    return ""


#: The most matches one search looks at. A text that matches more (a material's name
#: across 100,000 lots) is answered from the first `MATCH_CAP` the index gives, its counts
#: marked as lower bounds (`SearchPage.more`): narrowing it with a facet or a date looks
#: again, within the narrower set. This keeps a search's cost bounded by the cap, not by
#: how common its words are.
MATCH_CAP = 1000

_CANDIDATE_FIELDS = ("id", "kind", "key", "organisation", "status", "occurred_at")


def _candidates(rows: QuerySet[SearchEntry]) -> tuple[list[dict[str, Any]], bool]:
    """Up to `MATCH_CAP` matches (the cheap columns and the rank), and whether there are
    more."""
    fields: tuple[str, ...] = _CANDIDATE_FIELDS
    if connection.vendor == "postgresql":
        fields = (*fields, "rank")
    found = list(rows.order_by().values(*fields)[: MATCH_CAP + 1])
    return found[:MATCH_CAP], len(found) > MATCH_CAP


def _candidates_both(
    rows: QuerySet[SearchEntry], wanted: dict[str, str]
) -> tuple[tuple[list[dict[str, Any]], bool], tuple[list[dict[str, Any]], bool]]:
    """`_candidates` of the matches and of the matches that fit `wanted`, in one
    statement (PostgreSQL): a materialized CTE of the matches, which both lists read only
    as far as they need."""
    fields = (*_CANDIDATE_FIELDS, "rank")
    sql, params = rows.order_by().values(*fields).query.sql_with_params()
    quote = connection.ops.quote_name
    fit = " AND ".join(f"m.{quote(column)} = %s" for column in wanted)
    names = ", ".join(f"m.{quote(f)}" for f in fields)
    statement = (
        f"WITH m AS MATERIALIZED ({sql}) "
        f"(SELECT 1, {names} FROM m LIMIT {MATCH_CAP + 1}) UNION ALL "
        f"(SELECT 2, {names} FROM m WHERE {fit} LIMIT {MATCH_CAP + 1})"
    )
    found: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, *wanted.values()])
        for part, *values in cursor.fetchall():
            found[part].append(dict(zip(fields, values, strict=True)))
    return (
        (found[1][:MATCH_CAP], len(found[1]) > MATCH_CAP),
        (found[2][:MATCH_CAP], len(found[2]) > MATCH_CAP),
    )


def _order(candidate: dict[str, Any]) -> tuple[Any, ...]:
    """Best match first, then the newest, then by kind and key (a stable order)."""
    when = candidate["occurred_at"]
    return (
        -candidate.get("rank", 0.0),
        when is None,
        -(when.timestamp() if when else 0.0),
        candidate["kind"],
        candidate["key"],
    )


@lag_tolerant  # a search may trail the chain by the replica's lag
def search_find(*, scope: StockScope, request: SearchRequest) -> SearchPage:
    """One page of what `scope` may find for the request, best match first, with counts
    per facet value over the matches (each facet counted with the other filters applied).
    Past `MATCH_CAP` matches the counts are lower bounds and `more` says so."""
    matched = _matching(visible_entries(scope=scope), request.q)
    if request.date_from:
        matched = matched.filter(occurred_at__date__gte=request.date_from)
    if request.date_to:
        matched = matched.filter(occurred_at__date__lte=request.date_to)
    columns = {"type": "kind", "organisation": "organisation", "status": "status"}
    wanted = {"kind": request.type, "organisation": request.organisation, "status": request.status}
    wanted = {column: value for column, value in wanted.items() if value}

    def fits(candidate: dict[str, Any], *, ignoring: str = "") -> bool:
        return all(candidate[c] == v for c, v in wanted.items() if c != ignoring)

    if wanted and connection.vendor == "postgresql":
        # One statement for both candidate lists: the matches are computed once (the
        # visibility of a member's lots built once), read as far as each list needs.
        (everything, more_overall), narrowed = _candidates_both(matched, wanted)
    else:
        (everything, more_overall), narrowed = _candidates(matched), None
    facets = {}
    for facet, column in columns.items():
        counts: dict[str, int] = {}
        for candidate in everything:
            if candidate[column] and fits(candidate, ignoring=column):
                counts[candidate[column]] = counts.get(candidate[column], 0) + 1
        facets[facet] = dict(sorted(counts.items()))
    if wanted and more_overall:  # looked for again: the cap applies within the facets
        chosen, more = narrowed or _candidates(matched.filter(**wanted))
    else:  # every match is among the candidates already
        chosen, more = [c for c in everything if fits(c)], more_overall
    chosen.sort(key=_order)
    start = (request.page - 1) * request.page_size
    ids = [c["id"] for c in chosen[start : start + request.page_size]]
    found = SearchEntry.objects.in_bulk(ids)
    rows = [found[i] for i in ids if i in found]
    return SearchPage(
        request=request,
        total=len(chosen),
        more=more,
        hits=[
            Hit(
                kind=e.kind,
                key=e.key,
                title=e.title,
                organisation=e.organisation,
                status=e.status,
                occurred_at=e.occurred_at,
                link=_link(e),
                lot_id=None if e.lot_id is None else int(e.lot_id),
            )
            for e in rows
        ],
        facets=facets,
    )
