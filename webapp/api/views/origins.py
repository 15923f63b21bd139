"""Origin credit over the API: per product line and month, and for one lot. The same
numbers as the portal's origin report and the passport (`webapp.sustainability.origins`).

Tiers as the sustainability endpoints: one lot's origins are public facts (the passport
shows them), so any member reads them, like its figures; the report covers the end
products in the organisation's view, like the sustainability dashboard."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.authentication import acting_organisation
from webapp.api.schema import read_responses
from webapp.provenance.selectors import LotNotFound
from webapp.sustainability.dashboard import MAX_LINE, BadFilter
from webapp.sustainability.origin_report import OriginFilters, origin_report
from webapp.sustainability.origin_shapes import lot_origins_json, origin_report_json
from webapp.sustainability.origins import lot_origins


def _decimal(help_text: str = "", **kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=None, decimal_places=None, coerce_to_string=True, help_text=help_text, **kwargs
    )


class CreditOutput(serializers.Serializer[Any]):
    address = serializers.CharField(help_text="the origin participant's chain address")
    name = serializers.CharField(allow_blank=True)
    share = _decimal("0 to 1, three decimals; the shares of one product or row sum to 1")
    amount = _decimal(
        "kilograms (or the product's unit when it has no mass), three decimals", allow_null=True
    )


class PeriodOutput(serializers.Serializer[Any]):
    month = serializers.CharField(help_text="YYYY-MM, UTC, of the arrival at retail")
    product_line = serializers.CharField(allow_blank=True)
    basis = serializers.CharField(help_text='"kg", or the unit of products without a mass')
    total = _decimal()
    products = serializers.IntegerField()
    weighed_by_quantity = serializers.BooleanField()
    origins = CreditOutput(many=True)


class OriginReportOutput(serializers.Serializer[Any]):
    as_of_block = serializers.IntegerField(allow_null=True)
    rounding = serializers.CharField()
    lineage_capped = serializers.BooleanField()
    periods = PeriodOutput(many=True)


class RetailOutput(serializers.Serializer[Any]):
    quantity = _decimal("in the lot's own unit")
    kilograms = _decimal(allow_null=True)
    first_block = serializers.IntegerField()
    first_at = serializers.DateTimeField(allow_null=True)
    origins = CreditOutput(many=True)


class LotOriginsOutput(serializers.Serializer[Any]):
    lot_id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    unit = serializers.CharField(allow_blank=True)
    product_line = serializers.CharField(allow_blank=True)
    as_of_block = serializers.IntegerField(allow_null=True)
    quantity = serializers.IntegerField()
    grams_per_unit = _decimal(allow_null=True)
    kilograms = _decimal(allow_null=True)
    weighed_by_quantity = serializers.BooleanField()
    lineage_capped = serializers.BooleanField()
    origins = CreditOutput(many=True)
    at_retail = RetailOutput(allow_null=True)


FILTERS = [
    OpenApiParameter(
        "product_line",
        {"type": "string", "maxLength": MAX_LINE},
        description="one product line, exactly",
    ),
    OpenApiParameter("from", OpenApiTypes.DATE, description="arrivals from this UTC day"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="arrivals up to this UTC day"),
]


class OriginReportApi(APIView):
    @extend_schema(parameters=FILTERS, responses=read_responses(OriginReportOutput, by_id=False))
    def get(self, request: Request) -> Response:
        """Origin credit per product line and month: of the end products that reached a
        retailer (in the organisation's view), the kilograms and share of each origin."""
        try:
            filters = OriginFilters.parse(request.query_params)
        except BadFilter as error:
            raise serializers.ValidationError({"filters": [str(error)]}) from None
        report = origin_report(organisation=acting_organisation(request), filters=filters)
        return Response(origin_report_json(report))


class LotOriginsApi(APIView):
    @extend_schema(responses=read_responses(LotOriginsOutput, org=False))
    def get(self, request: Request, lot_id: int) -> Response:
        """One lot's origins by mass balance: each origin's share and kilograms, of the
        whole lot and of what of it reached retailers."""
        try:
            found = lot_origins(lot_id=lot_id)
        except LotNotFound:
            raise Http404(f"Lot {lot_id} is not on the chain (or not mirrored yet).") from None
        return Response(lot_origins_json(found))
