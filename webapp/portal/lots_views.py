"""Portal pages for finding things: the lots page and the search box's results."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from webapp.exports.search.selectors import (
    SearchInputError,
    SearchPage,
    search_find,
    search_request,
)
from webapp.limits import UINT256_MAX
from webapp.lots.search import (
    TABS,
    CertificateHit,
    SearchResults,
    lot_find,
    lot_rows,
    lots_in_view,
    search_results,
)
from webapp.lots.selectors.scope import StockScope, stock_scope
from webapp.organisations.selectors import organisations_by_slugs
from webapp.portal import forms
from webapp.portal.access import organisation_of

PER_PAGE = 25


@login_required
def lots_view(request: HttpRequest) -> HttpResponse:
    """The lots the organisation may see, by tab, filtered, sorted, 25 to a page. Filters
    that do not validate show their errors and no lots."""
    scope = stock_scope(organisation=organisation_of(request))
    form = forms.LotFilterForm(request.GET)
    page = rows = None
    valid = form.is_valid()
    # With a bad filter the page stays on the tab it was on, if that one was valid.
    tab, sort = form.cleaned_data.get("tab") or "all", ""
    if valid:
        query = form.lot_query()
        tab, sort = query.tab, query.sort
        # get_page: a page number past the end (or not a number) shows the last (or first).
        page = Paginator(lot_find(scope=scope, query=query), PER_PAGE).get_page(
            request.GET.get("page")
        )
        rows = lot_rows(scope=scope, lots=page.object_list)
    return render(
        request,
        "portal/lots.html",
        {
            "form": form,
            "tabs": TABS,
            "tab": tab,
            "sort": sort,
            "page": page,
            "rows": rows,
        },
    )


def _indexed_results(scope: StockScope, text: str, page: SearchPage) -> SearchResults:
    """The index's hits as the search page's sections: lots with where they are now,
    certificates, organisations (events are listed from `page.hits` directly)."""
    hits = page.hits
    lot_ids = [int(h.key) for h in hits if h.kind == "lot"]
    found = {int(lot.lot_id): lot for lot in lots_in_view(scope=scope).filter(lot_id__in=lot_ids)}
    results = SearchResults(text=text)
    results.lots = lot_rows(scope=scope, lots=[found[i] for i in lot_ids if i in found])
    results.certificates = [
        CertificateHit(
            certificate_id=int(h.key),
            certificate_type=h.title,
            lot_id=h.lot_id,
            revoked=h.status == "revoked",
        )
        for h in hits
        if h.kind == "certificate"
    ]
    results.organisations = organisations_by_slugs(
        [h.key for h in hits if h.kind == "organisation"]
    )
    return results


def _lot_typed(scope: StockScope, text: str) -> int | None:
    """The lot whose id is `text`, when the organisation may see it."""
    if not (text.isascii() and text.isdigit()) or len(text) > 78 or int(text) > UINT256_MAX:
        return None
    number = int(text)
    return number if lots_in_view(scope=scope).filter(lot_id=number).exists() else None


@login_required
def search_view(request: HttpRequest) -> HttpResponse:
    """The header's search box: an exact id of a lot in view goes straight to the lot;
    anything else lists what matched, by kind. On PostgreSQL the search index answers,
    with facet filters and counts; on the embedded SQLite database the simple search."""
    form = forms.SearchForm(request.GET)
    results = page = None
    if form.is_valid() and form.cleaned_data["q"]:
        scope = stock_scope(organisation=organisation_of(request))
        text = form.cleaned_data["q"]
        if connection.vendor != "postgresql":
            results = search_results(scope=scope, text=text)
            if results.lot is not None:
                return redirect("portal:lot", lot_id=results.lot)
        else:
            lot = _lot_typed(scope, text)
            if lot is not None:
                return redirect("portal:lot", lot_id=lot)
            try:
                query = search_request({k: request.GET.get(k, "") for k in request.GET})
            except SearchInputError as error:
                form.add_error(None, str(error))
            else:
                page = search_find(scope=scope, request=query)
                results = _indexed_results(scope, text, page)
    context: dict[str, Any] = {"form": form, "results": results, "page": page, "events": []}
    if page is not None:
        context.update(_facet_context(request, page))
    return render(request, "portal/search.html", context)


def _facet_context(request: HttpRequest, page: SearchPage) -> dict[str, Any]:
    """The facet filters (each value with its count), the events found and page links."""
    labels = {"type": "Type", "organisation": "Organisation", "status": "Status"}
    facets = [
        {
            "name": name,
            "label": label,
            "chosen": getattr(page.request, name),
            "counts": sorted(page.facets.get(name, {}).items()),
        }
        for name, label in labels.items()
    ]
    query = request.GET.copy()
    number = page.request.page
    query["page"] = str(number - 1)
    previous = query.urlencode()
    query["page"] = str(number + 1)
    return {
        "facets": facets,
        "events": [h for h in page.hits if h.kind == "event"],
        "query_prev": previous,
        "query_next": query.urlencode(),
        "next_page": number * page.request.page_size < page.total,
    }
