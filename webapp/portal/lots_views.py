"""Portal pages for finding things: the lots page and the search box's results."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from webapp.lots.search import TABS, lot_find, lot_rows, search_results
from webapp.lots.selectors import stock_scope
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


@login_required
def search_view(request: HttpRequest) -> HttpResponse:
    """The header's search box: an exact id of a lot in view goes straight to the lot;
    anything else lists what matched, by kind."""
    form = forms.SearchForm(request.GET)
    results = None
    if form.is_valid() and form.cleaned_data["q"]:
        scope = stock_scope(organisation=organisation_of(request))
        results = search_results(scope=scope, text=form.cleaned_data["q"])
        if results.lot is not None:
            return redirect("portal:lot", lot_id=results.lot)
    return render(request, "portal/search.html", {"form": form, "results": results})
