"""Search across what the acting organisation may see: lots, certificates, organisations
and the event history, with facet counts (see `webapp.exports.search.selectors`)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.authentication import acting_organisation
from webapp.api.schema import read_responses
from webapp.exports.search.selectors import SearchInputError, search_find, search_request
from webapp.lots.selectors.scope import stock_scope


class SearchOutput(serializers.Serializer[object]):
    class HitOutput(serializers.Serializer[object]):
        type = serializers.CharField(source="kind")
        key = serializers.CharField()
        title = serializers.CharField()
        organisation = serializers.CharField()
        status = serializers.CharField()
        occurred_at = serializers.DateTimeField(allow_null=True)
        link = serializers.CharField()

    count = serializers.IntegerField()
    count_is_lower_bound = serializers.BooleanField(
        help_text="More matched than one search looks at (1,000): count and facet counts "
        "are lower bounds; narrow the search with a facet or dates."
    )
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    facets = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))
    results = HitOutput(many=True)


PARAMETERS = [
    OpenApiParameter("q", str, required=True, description="Text, an id or a GS1 key (≤ 200)"),
    OpenApiParameter(
        "type",
        str,
        enum=["", "lot", "certificate", "organisation", "event", "document"],
        description="Empty or absent: every type",
    ),
    OpenApiParameter("organisation", str, description="An organisation's slug"),
    OpenApiParameter(
        "status",
        str,
        enum=["", "active", "quarantined", "valid", "revoked"],
        description="Empty or absent: any status",
    ),
    OpenApiParameter("from", str, description="YYYY-MM-DD"),
    OpenApiParameter("to", str, description="YYYY-MM-DD"),
    OpenApiParameter("page", int),
    OpenApiParameter("page_size", int, description="1 to 100"),
]


class SearchApi(APIView):
    @extend_schema(parameters=PARAMETERS, responses=read_responses(SearchOutput, by_id=False))
    def get(self, request: Request) -> Response:
        try:
            query = search_request(
                {k: request.query_params.get(k, "") for k in request.query_params}
            )
        except SearchInputError as error:
            raise serializers.ValidationError({"detail": [str(error)]}) from None
        page = search_find(
            scope=stock_scope(organisation=acting_organisation(request)), request=query
        )
        return Response(
            SearchOutput(
                {
                    "count": page.total,
                    "count_is_lower_bound": page.more,
                    "page": query.page,
                    "page_size": query.page_size,
                    "facets": page.facets,
                    "results": page.hits,
                }
            ).data
        )
